"""Per (scene, task) calibration of a model's logits: part of every model, applied when it scores.

Ad auctions spend probabilities (bid = pCTR x pCVR x price), so a model that over-predicts
clicks 2x overspends 2x. After training, each (scene, task) gets a monotone map
z -> f(z) in logit space, fitted on rows the model did not train on
(components.training.calibration); `predict` scores sigmoid(f(model(batch))).

f is piecewise linear through KNOTS points (x_k, y_k), extrapolated along its end
segments. Both methods use that one form, so switching method never changes a tensor's
shape (a warm start copies the map):
  platt:    y_k = a * x_k + b (Platt scaling; a straight line through every knot);
  isotonic: y_k = logit(isotonic regression of the labels on z, read at x_k).
f is strictly increasing (slope >= MIN_SLOPE), so it never reorders two rows of a scene:
every per-scene AUC is the uncalibrated model's. An unfitted map is the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KNOTS = 32  # points of each map; quantiles of the held-out logits
MIN_SLOPE = 1e-3  # f' >= this: a flat piece would tie rows and move the AUC
IDENTITY_SPAN = 20.0  # an unfitted map: the identity on [-20, 20], extrapolated beyond
TASK_ORDER = ("ctr", "cvr")  # the maps' second index (models.base.TASKS)


def _identity() -> Tensor:
    """The knots of an unfitted map (xs and ys alike): the identity on [-20, 20]."""
    return torch.linspace(-IDENTITY_SPAN, IDENTITY_SPAN, KNOTS)


class Calibrator(nn.Module):
    """Maps [S, T, KNOTS] as buffers: saved in the bundle, warm-started, not trained by SGD."""

    def __init__(self, scenes: int):
        super().__init__()
        shape = (scenes, len(TASK_ORDER), KNOTS)
        self.register_buffer("xs", _identity().expand(shape).clone())
        self.register_buffer("ys", _identity().expand(shape).clone())

    def forward(self, logits: dict[str, Tensor], scene: int) -> dict[str, Tensor]:
        """Calibrated logits of one scene's rows."""
        return {t: self.apply(z, scene, t) for t, z in logits.items()}

    def apply(self, z: Tensor, scene: int, task: str) -> Tensor:
        i = TASK_ORDER.index(task)
        xs, ys = self.xs[scene, i], self.ys[scene, i]  # [K], [K]
        # the segment of each z; ends clamped, so z beyond them extrapolates along the end segment
        k = torch.searchsorted(xs, z.contiguous()).clamp(1, KNOTS - 1)
        x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
        return y0 + (z - x0) * (y1 - y0) / (x1 - x0)

    @torch.no_grad()
    def set(self, scene: int, task: str, xs: Tensor, ys: Tensor) -> None:
        """Install one fitted map (KNOTS strictly increasing xs, increasing ys)."""
        i = TASK_ORDER.index(task)
        self.xs[scene, i], self.ys[scene, i] = xs, ys

    @torch.no_grad()
    def reset(self) -> None:
        """Every map back to the identity (calibration switched off)."""
        self.xs.copy_(_identity().expand_as(self.xs)), self.ys.copy_(_identity().expand_as(self.ys))

    def is_identity(self) -> bool:
        """No map fitted (or calibration off): scoring skips the maps."""
        return bool(torch.equal(self.xs, self.ys))
