"""Run the network only where the spindle can be: an x-y window around the previous frame's spindle.

A spindle moves a few micrometres between frames (10 min) and fills a small part of the 352 x 352 crop, so once
it has been found, the next frame of the same oocyte needs the network only on a window around it: a ~200 x 200
window is a third of the crop's voxels and of its forward time. The crop is standardised BEFORE the window is cut
(the standardisation in the preprocessing sees the whole crop, as always), so the window's voxels have exactly the
values the whole-crop pass would give them; what can differ is only what the network sees beyond the window's edge
(zeros), which is why the window keeps a margin around the spindle and is trusted only when its mask stays clear of
its edges.

The whole crop is run instead, and the window forgotten, when:
  - the frame is an oocyte's first, follows a frame with no spindle (or only a speck: ``min_track_vox``), or is not
    the next frame (gap > max_gap_frames);
  - ``refresh_every_frames`` frames have been windowed in a row (something new elsewhere in the crop is seen);
  - the window's mask is empty (spindle lost) or comes within ``edge_vox`` of a window edge that is not the crop's
    edge (it may continue outside): the frame is then run again on the whole crop.
Outside the window the logits are a confident background (``BACKGROUND_LOGIT``), so the mask, the largest
component and the volume band see no foreground there.

Frames of one oocyte are recognised from the image's meta (``filename_or_obj``: the hyperstack, or the folder of a
per-frame series) and ``frame``; the evaluator runs them in order, one frame per batch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

BACKGROUND_LOGIT = -30.0  # sigmoid = 1e-13: no foreground, no band


class SpindleWindow:
    """Per-oocyte memory of where the spindle was, and the x-y window of the next frame.

    margin_vox: voxels (x, y) kept around the previous frame's foreground; multiple_vox: window sizes are rounded
    up to multiples of this (the network's stride, and few distinct shapes for the CPU kernels' caches); edge_vox:
    a window mask this close to an inner window edge is not trusted; min_track_vox: a foreground smaller than this
    is not followed (a speck before GVBD would hold the window while the spindle forms elsewhere; 2000 voxels are
    116 um^3 at 0.17 x 0.17 x 2.0 um).
    """

    def __init__(self, margin_vox: int = 48, multiple_vox: int = 32, edge_vox: int = 16, max_gap_frames: int = 2,
                 refresh_every_frames: int = 10, min_track_vox: int = 2000) -> None:
        if margin_vox < 0 or multiple_vox < 1 or edge_vox < 0 or max_gap_frames < 1 or refresh_every_frames < 1:
            raise ValueError(f"SpindleWindow: margin_vox >= 0, multiple_vox >= 1, edge_vox >= 0, max_gap_frames >= 1 "
                             f"and refresh_every_frames >= 1, found {margin_vox}, {multiple_vox}, {edge_vox}, "
                             f"{max_gap_frames}, {refresh_every_frames}")
        if edge_vox > margin_vox:
            raise ValueError(f"SpindleWindow: edge_vox ({edge_vox}) must not exceed margin_vox ({margin_vox}): a "
                             "spindle that did not move would never be trusted")
        self.margin_vox = int(margin_vox)
        self.multiple_vox = int(multiple_vox)
        self.edge_vox = int(edge_vox)
        self.max_gap_frames = int(max_gap_frames)
        self.refresh_every_frames = int(refresh_every_frames)
        self.min_track_vox = int(min_track_vox)
        self._last: dict[str, tuple[int, tuple[int, int, int, int], int]] = {}  # oocyte -> (frame, box, run)
        self.counts = {"whole": 0, "window": 0, "window_rejected": 0}

    @staticmethod
    def oocyte_key(meta: dict[str, Any]) -> tuple[str, int] | None:
        """(oocyte, frame) of a frame from its meta, None when it cannot be told (then the whole crop runs)."""
        name, frame = meta.get("filename_or_obj"), meta.get("frame")
        if isinstance(name, (list, tuple)):  # collated batch of one
            name = name[0] if len(name) == 1 else None
        if isinstance(frame, torch.Tensor):
            frame = frame.reshape(-1)[0].item() if frame.numel() == 1 else None
        elif isinstance(frame, (list, tuple)):
            frame = frame[0] if len(frame) == 1 else None
        if not name or frame is None:
            return None
        path = Path(str(name))
        n_frames = meta.get("n_frames")
        if isinstance(n_frames, torch.Tensor):
            n_frames = n_frames.reshape(-1)[0].item()
        elif isinstance(n_frames, (list, tuple)):
            n_frames = n_frames[0]
        # a hyperstack holds the whole series; a per-frame file (OOCYTE/t0000.tif) is one frame of its folder's series
        oocyte = str(path) if n_frames and int(n_frames) > 1 else str(path.parent)
        return oocyte, int(frame)

    def window(self, key: tuple[str, int] | None, crop_xy: tuple[int, int]) -> tuple[slice, slice] | None:
        """x and y slices of the crop to run for this frame, or None for the whole crop."""
        if key is None or key[0] not in self._last:
            return None
        oocyte, frame = key
        last_frame, (x0, x1, y0, y1), run = self._last[oocyte]
        if not 0 < frame - last_frame <= self.max_gap_frames or run >= self.refresh_every_frames:
            return None
        slices = []
        for low, high, size in ((x0, x1, crop_xy[0]), (y0, y1, crop_xy[1])):
            want = min(size, self.multiple_vox * math.ceil((high - low + 2 * self.margin_vox) / self.multiple_vox))
            start = min(max((low + high) // 2 - want // 2, 0), size - want)
            slices.append(slice(start, start + want))
        if all(s.stop - s.start == size for s, size in zip(slices, crop_xy, strict=True)):
            return None  # the window would be the whole crop
        return slices[0], slices[1]

    def trusted(self, mask_window: torch.Tensor, window: tuple[slice, slice], crop_xy: tuple[int, int]) -> bool:
        """Whether the window's (X, Y, Z) foreground can stand for the whole crop's: found, and clear of the
        window's inner edges."""
        box = foreground_box_xy(mask_window)
        if box is None:
            return False
        x0, x1, y0, y1 = box
        (wx, wy), (cx, cy) = window, crop_xy
        w_x, w_y = wx.stop - wx.start, wy.stop - wy.start
        near = ((wx.start > 0 and x0 < self.edge_vox) or (wx.stop < cx and x1 > w_x - self.edge_vox)
                or (wy.start > 0 and y0 < self.edge_vox) or (wy.stop < cy and y1 > w_y - self.edge_vox))
        return not near

    def remember(self, key: tuple[str, int] | None, mask_crop: torch.Tensor, windowed: bool) -> None:
        """Store this frame's foreground box (whole-crop coordinates); forget the oocyte when there is none."""
        if key is None:
            return
        oocyte, frame = key
        box = foreground_box_xy(mask_crop)
        if box is None or int(mask_crop.sum()) < self.min_track_vox:
            self._last.pop(oocyte, None)
            return
        run = self._last[oocyte][2] + 1 if windowed and oocyte in self._last else 0
        self._last[oocyte] = (frame, box, run)


def foreground_box_xy(mask_xyz: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(x0, x1, y0, y1), end-exclusive, of the foreground of an (X, Y, Z) bool mask; None when empty."""
    xs = torch.nonzero(mask_xyz.any(dim=2).any(dim=1)).flatten()
    if xs.numel() == 0:
        return None
    ys = torch.nonzero(mask_xyz.any(dim=2).any(dim=0)).flatten()
    return int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1


def foreground(logits: torch.Tensor) -> torch.Tensor:
    """(X, Y, Z) bool foreground of a (1, C, X, Y, Z) logit tensor: logit > 0 for one channel, argmax for more."""
    return logits[0, 0] > 0 if logits.shape[1] == 1 else logits[0].argmax(dim=0) > 0


def background_logits(shape: torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Logits of a confident background: BACKGROUND_LOGIT for one channel; for softmax channels the background
    channel at -BACKGROUND_LOGIT and the others at BACKGROUND_LOGIT."""
    logits = torch.full(shape, BACKGROUND_LOGIT, dtype=dtype, device=device)
    if shape[1] > 1:
        logits[:, 0] = -BACKGROUND_LOGIT
    return logits
