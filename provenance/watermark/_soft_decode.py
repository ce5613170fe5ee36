"""Soft-decision decoding for a ``PayloadCodec`` whose encoder is affine over GF(2).

id + CRC + BCH parity, XOR a fixed whitening stream, is an affine map of the id bits (CRC and BCH
are linear, the CRC's initial value and the whitening are constants). So the set of valid words
is ``{u G + e}`` for the 2^id_bits ids ``u``: a linear code shifted by ``e``, which an
ordered-statistics decoder (OSD, Fossorier and Lin 1995) searches close to maximum likelihood.

Acceptance does not depend on the decoder: a word is reported only when it is a valid codeword
within ``accept_distance`` bit flips of the received hard decisions. For a uniformly random
received word the probability that *any* of the 2^id_bits codewords is that close is at most

    2^id_bits * V(n, accept_distance) / 2^n        (V = Hamming ball volume)

whatever decoder found it: that is the false-positive bound, times the number of words tried.
"""
from __future__ import annotations

from functools import cached_property
from math import comb

import numpy as np

from .._payload import DecodedPayload, PayloadCodec


class DistanceCodec(PayloadCodec):
    """A payload code whose detector accepts any valid codeword within ``accept_distance`` of the
    received word, trying up to ``attempts`` received words (geometric hypotheses) per image."""

    def __init__(self, *, accept_distance: int, attempts: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.accept_distance = accept_distance
        self.attempts = attempts

    @property
    def single_decode_false_positive_rate(self) -> float:
        """Probability that a uniformly random word lies within ``accept_distance`` of a codeword."""
        n = self.bits
        ball = sum(comb(n, i) for i in range(self.accept_distance + 1))
        return ball * 2.0 ** (self.id_bits - n)

    @property
    def false_positive_rate(self) -> float:
        return self.attempts * self.single_decode_false_positive_rate

    @cached_property
    def affine_form(self) -> tuple[np.ndarray, np.ndarray]:
        """(G, e): the word for id bits ``u`` is ``u G + e`` (mod 2). Checked on random ids."""
        e = self.encode("0" * 16)
        rows = []
        for i in range(self.id_bits):
            rows.append(self.encode(f"{1 << (63 - i):016x}") ^ e)
        g = np.array(rows, np.uint8)
        rng = np.random.default_rng(0)
        for _ in range(4):
            u = rng.integers(0, 2, self.id_bits, dtype=np.uint8)
            cid = np.packbits(np.concatenate([u, np.zeros(64 - self.id_bits, np.uint8)])).tobytes().hex()
            if not np.array_equal((u @ g) % 2 ^ e, self.encode(cid)):
                raise ValueError(f"{self.name}: encoder is not affine; OSD does not apply")
        return g, e


def _systematic(g: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian elimination of G's columns taken in ``order``: the first independent columns become
    the pivots (an information set). Returns (pivot columns, G in systematic form on them)."""
    a = g[:, order].copy()
    k, n = a.shape
    pivots = []
    row = 0
    for col in range(n):
        if row == k:
            break
        hit = np.flatnonzero(a[row:, col]) + row
        if hit.size == 0:
            continue
        p = hit[0]
        if p != row:
            a[[row, p]] = a[[p, row]]
        others = np.flatnonzero(a[:, col])
        others = others[others != row]
        a[others] ^= a[row]
        pivots.append(col)
        row += 1
    g_sys = np.empty_like(a)
    g_sys[:, order] = a
    return order[np.array(pivots)], g_sys


def osd_decode(codec: DistanceCodec, soft: np.ndarray) -> np.ndarray:
    """The valid word closest to ``soft`` (positive = bit 1) among the OSD-2 candidates: hard
    decisions on the most reliable information set, re-encoded with every pattern of up to two
    flips among them; the one with the least total reliability disagreeing wins.

    Flipping information bit i XORs row i of the systematic G into the word, so every candidate's
    cost follows from one 64 x 64 matrix: cost(i, j) = c0 + a_i + a_j - 2 M_ij.
    """
    g, e = codec.affine_form
    soft = np.asarray(soft, np.float64)
    hard = (soft > 0).astype(np.uint8)
    rel = np.abs(soft)
    pivots, g_sys = _systematic(g, np.argsort(-rel, kind="stable"))
    y = hard ^ e  # remove the affine offset: now a linear code
    base = (y[pivots].astype(np.int64) @ g_sys) % 2
    disagree = base != y
    w = np.where(disagree, -rel, rel)  # what flipping each position adds to the cost
    a = g_sys.astype(np.float64)
    lin = np.einsum("ik,k->i", a, w)
    # einsum, not @: a BLAS call this small costs more in thread start-up than in arithmetic
    pair = lin[:, None] + lin[None, :] - 2.0 * np.einsum("ik,jk->ij", a * w, a)
    np.fill_diagonal(pair, lin)  # the diagonal stands for single flips
    i, j = divmod(int(np.argmin(pair)), pair.shape[1])
    if pair[i, j] >= 0:
        word = base
    else:
        word = base ^ g_sys[i] if i == j else base ^ g_sys[i] ^ g_sys[j]
    return word.astype(np.uint8) ^ e


def soft_decode(codec: DistanceCodec, soft: np.ndarray) -> DecodedPayload:
    """Hard-decision BCH first (up to its t errors); else OSD-2 on the soft values. Accepted only
    within ``codec.accept_distance`` of the hard decisions (``bit_errors`` = that distance)."""
    hard = (np.asarray(soft) > 0).astype(np.uint8)
    first = codec.decode(hard)
    if first.valid:
        return first
    word = osd_decode(codec, soft)
    distance = int(np.count_nonzero(word != hard))
    if distance > codec.accept_distance:
        return first
    d = codec.decode(word)
    if not d.valid:  # cannot happen for a word of the code; kept as a guard
        return first
    return DecodedPayload(True, d.content_id, distance, first.raw_bits)
