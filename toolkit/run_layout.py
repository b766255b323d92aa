"""Where each file of a run folder lives: one name per file, so that a stage writing it and the modules reading it
can never disagree on a spelling.

    manifest.json   input.parquet (the labeled rows, when a run from Python was given a DataFrame)
    data/       {train,validation,test}.parquet  validation_report.json  input_contract.json
    teachers/   <name>/ (probs.npz, fitted.json, the fitted teacher)  ensemble[_<method>]/probs.npz  summary.json
                cache.sqlite
    filter/     kept.parquet  rejected.parquet  label_issues.csv  candidates.parquet  summary.json  progress.json
                pairs.jsonl  reward_model/  generator_sft/  generator/  ppo_log.json  ppo_reward.png  (+ work folders)
    student/    adapter/  adapter_base/  merged/  probs.npz  history.json  selection.json  candidates/<name>/
    report/     metrics.json  report.md  report.html  MODEL_CARD.md  scope.json
    export/     <variant>/  evaluation/<variant>.npz  metrics.json  compression.md  deploy.json  scope.json
                progress.json

>>> layout = RunLayout(Path("runs/medical_triage"))
>>> layout.teacher_probs("ensemble").as_posix()
'runs/medical_triage/teachers/ensemble/probs.npz'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MANIFEST_FILE = "manifest.json"
SELECTION_FILE = "selection.json"
SCOPE_FILE = "scope.json"
PROBS_FILE = "probs.npz"  # every model's probabilities per split (teachers, ensembles, candidates, the student)
DEPLOY_FILE = "deploy.json"
ENSEMBLE = "ensemble"  # teachers/ensemble/: the ensemble method the student learns from


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder, `root`; every method only names a path, nothing is created."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def input_frame(self) -> Path:
        """The labeled rows a run from Python was given as a DataFrame, stored for the data stage to read."""
        return self.root / "input.parquet"

    # ------------------------------------------------------------------------------------------------ data
    @property
    def data(self) -> Path:
        return self.root / "data"

    def split(self, name: str) -> Path:
        """`data/<train|validation|test>.parquet`: the rendered, validated rows of one split."""
        return self.data / f"{name}.parquet"

    @property
    def validation_report(self) -> Path:
        return self.data / "validation_report.json"

    @property
    def input_contract(self) -> Path:
        """The columns, input map and rendering that `*=fields` fixed (plain JSON)."""
        return self.data / "input_contract.json"

    # -------------------------------------------------------------------------------------------- teachers
    @property
    def teachers(self) -> Path:
        return self.root / "teachers"

    def teacher(self, name: str) -> Path:
        """The folder of a fitted teacher, or of an ensemble (`ensemble`, `ensemble_<method>`)."""
        return self.teachers / name

    def teacher_probs(self, name: str) -> Path:
        return self.teacher(name) / PROBS_FILE

    def teacher_fitted(self, name: str) -> Path:
        """The marker that says with which inputs the teacher was fitted (restored instead of refitted)."""
        return self.teacher(name) / "fitted.json"

    @property
    def ensemble_probs(self) -> Path:
        """The probabilities of the ensemble the student learns from."""
        return self.teacher_probs(ENSEMBLE)

    def ensemble_method_probs(self, method: str) -> Path:
        return self.teacher_probs(f"{ENSEMBLE}_{method}")

    @property
    def teacher_summary(self) -> Path:
        return self.teachers / "summary.json"

    @property
    def teacher_cache(self) -> Path:
        return self.teachers / "cache.sqlite"

    # ---------------------------------------------------------------------------------------------- filter
    @property
    def filter(self) -> Path:
        return self.root / "filter"

    @property
    def kept(self) -> Path:
        """The filter's kept samples, which may join the student's training rows."""
        return self.filter / "kept.parquet"

    @property
    def rejected(self) -> Path:
        return self.filter / "rejected.parquet"

    @property
    def label_issues(self) -> Path:
        return self.filter / "label_issues.csv"

    @property
    def filter_summary(self) -> Path:
        return self.filter / "summary.json"

    @property
    def filter_progress(self) -> Path:
        return self.filter / "progress.json"

    @property
    def filter_candidates(self) -> Path:
        return self.filter / "candidates.parquet"

    @property
    def reward_pairs(self) -> Path:
        return self.filter / "pairs.jsonl"

    @property
    def reward_model(self) -> Path:
        return self.filter / "reward_model"

    @property
    def reward_training(self) -> Path:
        return self.filter / "reward_training"

    @property
    def generator_sft(self) -> Path:
        return self.filter / "generator_sft"

    @property
    def generator_training(self) -> Path:
        return self.filter / "generator_training"

    @property
    def generator(self) -> Path:
        return self.filter / "generator"

    @property
    def ppo_log(self) -> Path:
        return self.filter / "ppo_log.json"

    @property
    def ppo_plot(self) -> Path:
        return self.filter / "ppo_reward.png"

    @property
    def out_of_fold(self) -> Path:
        """Work folder of the out-of-fold teachers that look for label issues (removed when done)."""
        return self.filter / "oof"

    # --------------------------------------------------------------------------------------------- student
    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def student_merged(self) -> Path:
        """The chosen student with any adapter merged in: what evaluation and compression load."""
        return self.student / "merged"

    @property
    def student_adapter(self) -> Path:
        return self.student / "adapter"

    @property
    def student_adapter_base(self) -> Path:
        return self.student / "adapter_base"

    @property
    def student_probs(self) -> Path:
        return self.student / PROBS_FILE

    @property
    def student_history(self) -> Path:
        return self.student / "history.json"

    @property
    def student_schedule(self) -> Path:
        return self.student / "schedule.json"

    @property
    def selection(self) -> Path:
        """Every candidate recipe's validation figures and the choice."""
        return self.student / SELECTION_FILE

    @property
    def candidates(self) -> Path:
        return self.student / "candidates"

    def candidate(self, name: str) -> Path:
        return self.candidates / name

    def candidate_probs(self, name: str) -> Path:
        return self.candidate(name) / PROBS_FILE

    # ---------------------------------------------------------------------------------------------- report
    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def metrics(self) -> Path:
        return self.report / "metrics.json"

    @property
    def report_markdown(self) -> Path:
        return self.report / "report.md"

    @property
    def report_html(self) -> Path:
        return self.report / "report.html"

    @property
    def model_card(self) -> Path:
        return self.report / "MODEL_CARD.md"

    @property
    def scope(self) -> Path:
        """The fitted in-scope model the cascade defers out-of-scope inputs with."""
        return self.report / SCOPE_FILE

    # ---------------------------------------------------------------------------------------------- export
    @property
    def export(self) -> Path:
        return self.root / "export"

    def variant(self, name: str) -> Path:
        return self.export / name

    def variant_probs(self, name: str) -> Path:
        """A variant's validation and test probabilities, as the compress stage measured them."""
        return self.export / "evaluation" / f"{name}.npz"

    @property
    def export_metrics(self) -> Path:
        return self.export / "metrics.json"

    @property
    def compression_report(self) -> Path:
        return self.export / "compression.md"

    @property
    def deploy(self) -> Path:
        return self.export / DEPLOY_FILE

    @property
    def export_scope(self) -> Path:
        """The scope model shipped next to the variants (`predict` reads it from an export folder)."""
        return self.export / SCOPE_FILE

    @property
    def export_progress(self) -> Path:
        return self.export / "progress.json"

    @property
    def recovery(self) -> Path:
        """Work folder of the pruned model's recovery training (removed when done)."""
        return self.export / "recovery"
