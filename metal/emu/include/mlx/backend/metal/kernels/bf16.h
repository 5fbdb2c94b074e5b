// Stand-in for MLX's Metal bf16.h in the emulator: bfloat16_t is Metal's bfloat (Metal 3.1+).
#pragma once
#include <metal_stdlib>
using bfloat16_t = bfloat;
