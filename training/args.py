"""Training arguments, validated when created (SetFit's habit)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainingArguments:
    """Everything that decides a model, apart from the data and the base encoder.

    ``epochs=0`` skips fine-tuning: the base encoder is used frozen. ``lexical`` adds a TF-IDF head
    whose weight in the blend is chosen with the others (``blend_grid`` steps, summing to 1).
    ``code_text_weight`` adds each code's own text in the codebook (its label, definition, include
    note and examples; ``training.code_texts``) to what the heads learn from, as that many
    examples of the code; 0 learns from the coded excerpts alone.
    """

    seed: int = 0
    epochs: int = 1
    pairs_per_excerpt: int = 4
    hard_negative_share: float = 0.5
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_seq_length: int = 128
    heldout_share: float = 0.2
    min_examples: int = 2
    head_C: float = 4.0
    k_vote: int = 10
    blend_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    lexical: bool = True
    min_heldout_positives: float = 5.0
    threshold_prior: float = 8.0
    max_pairs: int = 4000
    code_text_weight: int = 2

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"training argument {name}={getattr(self, name)!r}: {rule}")

        need(self.epochs >= 0, "epochs", "must be 0 or more")
        need(self.pairs_per_excerpt >= 1, "pairs_per_excerpt", "must be at least 1")
        need(0.0 <= self.hard_negative_share <= 1.0, "hard_negative_share", "must be in [0, 1]")
        need(self.batch_size >= 2, "batch_size", "must be at least 2")
        need(0 < self.learning_rate < 1, "learning_rate", "must be in (0, 1)")
        need(16 <= self.max_seq_length <= 512, "max_seq_length", "must be in [16, 512]")
        need(0.05 <= self.heldout_share <= 0.5, "heldout_share", "must be in [0.05, 0.5]")
        need(self.min_examples >= 1, "min_examples", "must be at least 1")
        need(self.head_C > 0, "head_C", "must be positive")
        need(self.k_vote >= 1, "k_vote", "must be at least 1")
        need(all(0 <= w <= 1 for w in self.blend_grid) and len(self.blend_grid) > 0,
             "blend_grid", "weights must lie in [0, 1]")
        need(self.threshold_prior >= 0, "threshold_prior", "must be 0 or more")
        need(self.max_pairs >= 1, "max_pairs", "must be at least 1")
        need(self.code_text_weight >= 0, "code_text_weight", "must be 0 or more")
        need(self.min_heldout_positives >= 0, "min_heldout_positives", "must be 0 or more")
        self.blend_grid = tuple(float(w) for w in self.blend_grid)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["blend_grid"] = list(self.blend_grid)
        return out
