// Test entry point: selects the fast BLAS kernel like the programs do, then runs gtest.
#include "blas_setup.h"

#include <gtest/gtest.h>

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
