"""What the deployed model does with its probabilities.

policy.py         class weights tuned on validation to meet the pack's targets (probability × weight, argmax)
labels.py         argmax with ties broken toward the more severe level on ordinal packs
confidence.py     per-row confidence scores (calibrated top probability, top-two margin, teacher agreement)
risk_coverage.py  risk–coverage curves with bootstrap intervals: what answering only the surest rows buys
conformal.py      class-conditional split conformal label sets
scope.py          inputs unlike the training data (unknown words, unseen script, no fields) are referred
cascade.py        student → teacher ensemble → person, thresholds tuned on validation for the deferral targets
evaluation.py     all of it for a run's models: what report/metrics.json and export/deploy.json carry
serving.py        the cascade on raw rows (scope check, student, the teachers only where needed) and its timing
from_run.py       the inputs and models read from a run folder
report.py         the report's tables; words.py: the result in the pack's words
"""
