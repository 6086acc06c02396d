// PyTorch parity: see tests/reference/README.md.
#include <doctest/doctest.h>
