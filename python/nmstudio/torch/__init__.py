"""nmstudio's N:M sparse-training recipes for PyTorch models (see python/README section in the
project README, "PyTorch and clusters").

    import nmstudio.torch as nmt
    sparse = nmt.sparsify(model, "srste", "2:4", steps=total_steps)
    ...
    loss.backward()
    sparse.step(optimizer)            # instead of optimizer.step()
"""

from .ops import mvue24, nm_mask, parse_nm, soft_threshold, sste_beta
from .recipes import RECIPES
from .schedules import mdgf_alpha, mdgf_kappa, pgf_phases, sdgf_frames
from .sparsifier import DEFAULTS, STAT_COLUMNS, Sparsifier, sparsify

__all__ = [
    "DEFAULTS", "RECIPES", "STAT_COLUMNS", "Sparsifier", "sparsify", "nm_mask", "soft_threshold", "sste_beta",
    "mvue24", "parse_nm", "pgf_phases", "mdgf_alpha", "mdgf_kappa", "sdgf_frames",
]
