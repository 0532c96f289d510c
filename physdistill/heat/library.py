"""The heat package's term libraries: the domain-free ones of :mod:`physdistill.pde.library`."""

from physdistill.pde.library import (
    Concat,
    Constant,
    Derivatives,
    Powers,
    Product,
    TermLibrary,
    default_library,
    pdefind_library,
)

__all__ = ["Concat", "Constant", "Derivatives", "Powers", "Product", "TermLibrary",
           "default_library", "pdefind_library"]
