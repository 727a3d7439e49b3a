// Umbrella header: everything public in rflow.
#pragma once

#include "rflow/autograd.hpp"
#include "rflow/device.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"
