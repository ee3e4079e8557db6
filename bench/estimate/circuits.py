"""Equivalent circuits of a battery cell: parse a circuit string, evaluate it and its Jacobian.

A circuit is a series chain of elements written with "-", e.g. "L-R0-RQ-RQ-W":

- ``L``  series inductance of leads and windings, Z = j*w*L            (``l_h``)
- ``R0`` ohmic resistance, Z = R0                                      (``r0_ohm``)
- ``RQ`` a resistor parallel to a constant-phase element,
  Z = R / (1 + R*Q*(j*w)**alpha)                                       (``rK_ohm, qK, alphaK``)
- ``W``  semi-infinite Warburg diffusion, Z = sigma*(1 - j)/sqrt(w)    (``sigma_ohm_per_sqrt_s``)
- ``Q``  a series constant-phase element, Z = 1/(Q*(j*w)**alpha): a diffusion tail
  whose angle is free (alpha 0.5 is a Warburg, toward 1 a blocking capacitance)  (``qd, alphad``)

The same definitions as impedance.py's ``L``, ``R``, ``p(R,CPE)`` and ``W`` elements, so
fits of both tools can be compared parameter by parameter.

Fitting works in an unconstrained vector ``u``: every positive parameter is ``exp(u)``
and every CPE exponent is ``ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) * logistic(u)``, so any
step the optimiser takes yields a physical circuit (positivity by construction).
The Jacobian is analytic with respect to ``u``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.estimate.errors import EstimateInputError

ALPHA_MIN = 0.3
ALPHA_MAX = 1.0
U_LIMIT = 40.0  # |u| bound: exp(40) ~ 2e17, far beyond any cell, small enough that products never overflow
ELEMENTS = ("L", "R0", "RQ", "W", "Q")


@dataclass(frozen=True)
class Circuit:
    """A parsed circuit: its elements in series and the names of its parameters (with units)."""

    text: str
    elements: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def n_params(self) -> int:
        return len(self.names)

    def is_alpha(self) -> np.ndarray:
        """Boolean mask of the CPE exponents (logistic-mapped; everything else is log-mapped)."""
        return np.array([name.startswith("alpha") for name in self.names])

    def index(self, name: str) -> int:
        return self.names.index(name)

    def to_internal(self, params: np.ndarray) -> np.ndarray:
        """Physical parameters (..., p) -> unconstrained vector u (..., p)."""
        params = np.asarray(params, dtype=float)
        mask = self.is_alpha()
        u = np.log(np.clip(params, 1e-300, None))
        frac = np.clip((params - ALPHA_MIN) / (ALPHA_MAX - ALPHA_MIN), 1e-6, 1 - 1e-6)
        return np.where(mask, np.log(frac / (1 - frac)), u)

    def to_physical(self, u: np.ndarray) -> np.ndarray:
        """Unconstrained u (..., p) -> physical parameters (..., p)."""
        mask = self.is_alpha()
        safe = np.clip(u, -U_LIMIT, U_LIMIT)
        return np.where(mask, ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) / (1 + np.exp(-safe)), np.exp(safe))

    def impedance(self, params: np.ndarray, frequency_hz: np.ndarray) -> np.ndarray:
        """Z (n, F) of n parameter sets (n, p) on frequencies (F,) or (n, F)."""
        z, _ = self._evaluate(np.asarray(params, dtype=float), frequency_hz, jacobian=False)
        return z

    def impedance_and_jacobian(self, u: np.ndarray, frequency_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Z (n, F) and dZ/du (n, F, p) at unconstrained parameters u (n, p)."""
        params = self.to_physical(u)
        z, jac = self._evaluate(params, frequency_hz, jacobian=True)
        # chain rule for the logistic map of the exponents: d alpha / d u
        mask = self.is_alpha()
        if mask.any():
            s = 1 / (1 + np.exp(-np.clip(u[:, mask], -700, 700)))
            jac[:, :, mask] *= ((ALPHA_MAX - ALPHA_MIN) * s * (1 - s))[:, None, :]
        return z, jac

    def _evaluate(self, params: np.ndarray, frequency_hz: np.ndarray, *, jacobian: bool):
        params = np.atleast_2d(params)
        n = params.shape[0]
        omega = 2 * np.pi * np.broadcast_to(np.asarray(frequency_hz, dtype=float), (n, np.shape(frequency_hz)[-1]))
        z = np.zeros(omega.shape, dtype=complex)
        jac = np.zeros((*omega.shape, self.n_params), dtype=complex) if jacobian else None
        k = 0
        for element in self.elements:
            if element == "L":
                l_h = params[:, k : k + 1]
                zl = 1j * omega * l_h
                z += zl
                if jacobian:
                    jac[:, :, k] = zl  # d/d log L
                k += 1
            elif element == "R0":
                r = params[:, k : k + 1]
                z += r
                if jacobian:
                    jac[:, :, k] = r
                k += 1
            elif element == "RQ":
                r, q, alpha = (params[:, k + i : k + i + 1] for i in range(3))
                log_s = np.log(omega) + 0.5j * np.pi
                y = r * q * np.exp(alpha * log_s)
                inv = 1 / (1 + y)
                z_rq = r * inv
                z += z_rq
                if jacobian:
                    jac[:, :, k] = z_rq * inv  # d/d log R
                    jac[:, :, k + 1] = -z_rq * y * inv  # d/d log Q
                    jac[:, :, k + 2] = -z_rq * y * inv * log_s  # d/d alpha
                k += 3
            elif element == "W":
                sigma = params[:, k : k + 1]
                zw = sigma * (1 - 1j) / np.sqrt(omega)
                z += zw
                if jacobian:
                    jac[:, :, k] = zw
                k += 1
            elif element == "Q":
                q, alpha = params[:, k : k + 1], params[:, k + 1 : k + 2]
                log_s = np.log(omega) + 0.5j * np.pi
                zq = np.exp(-np.log(q) - alpha * log_s)
                z += zq
                if jacobian:
                    jac[:, :, k] = -zq  # d/d log Q
                    jac[:, :, k + 1] = -zq * log_s  # d/d alpha
                k += 2
        return z, jac


def parse_circuit(text: str) -> Circuit:
    """Parse "L-R0-RQ-RQ-W"-style strings; unknown elements raise EstimateInputError."""
    elements = tuple(part.strip().upper() for part in text.split("-") if part.strip())
    unknown = [e for e in elements if e not in ELEMENTS]
    if not elements or unknown:
        raise EstimateInputError(
            f"circuit {text!r}: unknown element(s) {unknown or '(empty)'}; use elements {', '.join(ELEMENTS)} joined by '-'"
        )
    if elements.count("R0") != 1 or any(elements.count(e) > 1 for e in ("L", "W", "Q")):
        raise EstimateInputError(f"circuit {text!r}: needs exactly one R0 and at most one each of L, W and Q")
    names: list[str] = []
    n_rq = 0
    for element in elements:
        if element == "L":
            names.append("l_h")
        elif element == "R0":
            names.append("r0_ohm")
        elif element == "RQ":
            n_rq += 1
            names += [f"r{n_rq}_ohm", f"q{n_rq}", f"alpha{n_rq}"]
        elif element == "W":
            names.append("sigma_ohm_per_sqrt_s")
        elif element == "Q":
            names += ["qd", "alphad"]
    return Circuit(text, elements, tuple(names))


def impedance_py_circuit(circuit: Circuit) -> str:
    """The same circuit in impedance.py's notation (used by the benchmark to compare like with like)."""
    parts = []
    n_rq = 0
    for element in circuit.elements:
        if element == "L":
            parts.append("L0")
        elif element == "R0":
            parts.append("R0")
        elif element == "RQ":
            n_rq += 1
            parts.append(f"p(R{n_rq},CPE{n_rq})")
        elif element == "W":
            parts.append("W1")
        elif element == "Q":
            parts.append("CPE0")
    return "-".join(parts)
