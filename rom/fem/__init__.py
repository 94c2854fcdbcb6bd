"""Finite-element core: reference elements, quadrature rules, vectorized kernels.

See :mod:`rom.fem.kernels` for the array layout used throughout the package.
"""

from rom.fem.elements import ELEMENTS, FACE_TYPES, VOLUME_TYPES, Element, get_element
from rom.fem.kernels import (
    IDENTITY_MANDEL,
    CellBasis,
    FaceBasis,
    cell_average,
    extrapolation_matrix,
    mandel_to_tensor,
    nodal_sums,
    tensor_to_mandel,
    trace,
    von_mises,
)
from rom.fem.quadrature import QuadratureRule, default_rule, gauss_rule

__all__ = ["ELEMENTS", "FACE_TYPES", "VOLUME_TYPES", "Element", "get_element", "CellBasis",
           "FaceBasis", "IDENTITY_MANDEL", "extrapolation_matrix", "nodal_sums", "cell_average",
           "mandel_to_tensor", "tensor_to_mandel", "trace",
           "von_mises", "QuadratureRule", "default_rule", "gauss_rule"]
