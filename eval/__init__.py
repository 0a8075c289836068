"""Measuring: agreement statistics, span agreement, and the model as one more coder. Imports only
``corpus`` and ``models``; the benchmarks are in ``eval.bench``.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "percent_agreement": "eval.agreement",
    "cohen_kappa": "eval.agreement",
    "scott_pi": "eval.agreement",
    "fleiss_kappa": "eval.agreement",
    "brennan_prediger": "eval.agreement",
    "gwet_ac1": "eval.agreement",
    "krippendorff_alpha": "eval.agreement",
    "bootstrap_ci": "eval.agreement",
    "bennett_s": "eval.agreement",
    "randolph_kappa": "eval.agreement",
    "conger_kappa": "eval.agreement",
    "light_kappa": "eval.agreement",
    "category_kappa": "eval.agreement",
    "interval": "eval.agreement",
    "unitizing_alpha": "eval.unitizing",
    "alpha_with_distance": "eval.set_agreement",
    "masi_distance": "eval.set_agreement",
    "set_distance": "eval.set_agreement",
    "icc": "eval.icc",
    "Codings": "eval.agreement_io",
    "read_codings": "eval.agreement_io",
    "character_agreement": "eval.spans",
    "segment_agreement": "eval.spans",
})
