"""Small numerical helpers shared by the extractors (all on float64 arrays, no state)."""
from __future__ import annotations

import numpy as np

#: Weights of the JPEG / BT.601 luma: the Y that a JPEG encoder quantises.
LUMA = np.array([0.299, 0.587, 0.114])


def as_float_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 array, got {arr.dtype} {arr.shape}")
    return arr.astype(np.float64)


def luma(rgbf: np.ndarray) -> np.ndarray:
    return rgbf @ LUMA


def laplacian_residual(x: np.ndarray) -> np.ndarray:
    """``4x - (up + down + left + right)`` with mirrored borders: the image minus its smooth part."""
    p = np.pad(x, 1, mode="reflect")
    return 4.0 * x - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]


def neighbour_residuals(x: np.ndarray) -> list[np.ndarray]:
    """Per channel of an H x W x 3 float image: each value minus the mean of its four neighbours."""
    return [laplacian_residual(x[:, :, c]) / 4.0 for c in range(3)]


def safe_log(x, eps: float = 1e-12):
    return np.log(np.maximum(x, eps))


def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix; ``D @ block @ D.T`` is exactly JPEG's forward DCT."""
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def block_dct(y: np.ndarray) -> np.ndarray:
    """8x8 block DCT of a luma plane whose size is a multiple of 8: shape (blocks, 8, 8)."""
    h, w = (s - s % 8 for s in y.shape)
    blocks = (y[:h, :w] - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
    return (blocks @ _DCT2.T).reshape(-1, 8, 8)


#: The 2-D 8x8 DCT as one 64x64 matrix acting on flattened blocks (row-major).
_DCT2 = np.kron(dct_matrix(8), dct_matrix(8))


def folded_profile(diff: np.ndarray, period: int = 8) -> np.ndarray:
    """Mean of ``diff`` per column, folded modulo ``period`` (column j's phase is j % period)."""
    col = diff.mean(axis=0)
    n = len(col) - len(col) % period
    return col[:n].reshape(-1, period).mean(axis=0)
