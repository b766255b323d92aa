"""Sample filtering (stage 3 of a run): reward model, PPO-tuned generator, batch selection, label issues.

pairs.py         preference pairs: the user's file, teacher agreement, real vs generated
reward.py        the reward model (a one-output sequence classifier over `label prompt || text`)
generator.py     the label-conditioned causal LM, its SFT rows, sampling, and the PPO reward adapter
trl_backend.py   every TRL call (RewardTrainer, SFTTrainer, PPO, GRPO)
selection.py     candidates kept by reward per batch, with no copies and no leakage into evaluation
label_issues.py  confident-learning flags on the labeled data
stage.py         the stage itself, resumable step by step, writing `runs/<name>/filter/`
"""
