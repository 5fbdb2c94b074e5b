// bsr_spmm on CUDA (contract: gpu/core/bsr.h). Tiled kernels for square blocks of 16, 32 and
// 64: a thread block owns one block row's bs x 128 output tile and walks the row's blocks in
// reduction chunks staged through shared memory by a 3-stage cp.async pipeline. float16 and
// bfloat16 multiply on tensor cores (ldmatrix + mma.sync m16n8k16, float32 accumulators);
// float32 takes the same staging with per-thread FMA tiles (no TF32: no precision lost).
// Block rows are the grid's fastest axis, so the thread blocks resident together share one
// 128-column slab of X in L2.
#include "bsr.cuh"
#include "mma.cuh"

namespace mlx_sparse::gpu {

// The tile of one thread block: BS rows x BN columns, kWarps warps, kStages stages (the
// kernels use BN = kBsrTileCols, 4 warps, 3 stages; benchmarks/bench_bsr_spmm_cuda.py
// instantiates others to compare).
template <typename T, int BS, int BN, int kWarps, int kStages_>
struct SpmmTile {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStages = kStages_;
  static constexpr int kVec = 16 / static_cast<int>(sizeof(T)); // values per 16-byte chunk
  static constexpr int kChunk = (sizeof(T) == 4 ? 16 : 32) < BS ? (sizeof(T) == 4 ? 16 : 32) : BS;
  static constexpr int kLda = kChunk + kVec;        // rows padded by 16 bytes: no bank conflicts
  static constexpr int kLdb = BN + kVec;
  static constexpr int kA = BS * kLda, kB = kChunk * kLdb;
  static constexpr int kBytes = kStages * (kA + kB) * static_cast<int>(sizeof(T));
  // mma warp grid: 2 rows of warps for bs >= 32 (BS / 2 rows each), 1 for bs 16
  static constexpr int kWarpsM = BS >= 32 ? 2 : 1, kWarpsN = kWarps / kWarpsM;
  static constexpr int kMt = BS / kWarpsM / 16, kNt = BN / kWarpsN / 8;
  // FMA thread grid: (threads / (BN / 8)) x (BN / 8) threads of kTm x 8 values
  static constexpr int kTx = BN / 8, kTy = kThreads / kTx, kTm = BS / kTy;
};

namespace {

template <typename T, typename I, int BS, int BN = kBsrTileCols, int kWarps = 4, int kStages = 3>
__device__ __forceinline__ void bsr_spmm_tiled(const I* indptr, const I* cols, const T* data,
                                               const T* X, T* out, BsrArgs a) {
  using Tile = SpmmTile<T, BS, BN, kWarps, kStages>;
  constexpr int kVec = Tile::kVec, kChunk = Tile::kChunk, kPerBlock = BS / kChunk;
  __shared__ alignas(16) unsigned char raw[Tile::kBytes];
  T* const smem = reinterpret_cast<T*>(raw);
  const int tid = threadIdx.x;
  const int64_t i = blockIdx.x, c0 = static_cast<int64_t>(blockIdx.y) * BN;
  const int64_t b = blockIdx.z;
  data += b * a.a_stride;
  X += b * a.b_stride;
  const Range rg = row_range(indptr, i, a.nnzb);
  const bool data_aligned = aligned16(data);
  const bool x_aligned = aligned16(X) && a.k % kVec == 0;

  auto load = [&](int64_t step, int stage) {
    T* As = smem + stage * (Tile::kA + Tile::kB);
    T* Bs = As + Tile::kA;
    const int64_t p = rg.start + step / kPerBlock;
    const int kc = static_cast<int>(step % kPerBlock) * kChunk;
    const int64_t j = static_cast<int64_t>(cols[p]);
    const bool valid = in_range(j, a.nb); // a block outside the columns adds nothing
    for (int q = tid; q < BS * (kChunk / kVec); q += Tile::kThreads) {
      const int r = q / (kChunk / kVec), c = (q % (kChunk / kVec)) * kVec;
      stage_chunk(As + r * Tile::kLda + c, data + (p * BS + r) * BS + kc + c, valid ? kVec : 0,
                  data_aligned);
    }
    for (int q = tid; q < kChunk * (BN / kVec); q += Tile::kThreads) {
      const int r = q / (BN / kVec), c = (q % (BN / kVec)) * kVec;
      const int64_t left = a.k - (c0 + c);
      const int n = !valid || left <= 0 ? 0 : (left < kVec ? static_cast<int>(left) : kVec);
      const int64_t row = valid ? j * BS + kc + r : 0;
      stage_chunk(Bs + r * Tile::kLdb + c, X + row * a.k + c0 + c, n, x_aligned);
    }
  };
  const int64_t steps = (rg.end - rg.start) * kPerBlock;
  T* o = out + (b * a.mb * BS + i * BS) * a.k;

  if constexpr (sizeof(T) == 2) {
    const int warp = tid / kWarp, lane = tid % kWarp;
    const int wm = warp / Tile::kWarpsN, wn = warp % Tile::kWarpsN;
    float acc[Tile::kMt][Tile::kNt][4] = {};
    staged_loop<Tile::kStages>(steps, load, [&](int64_t, int stage) {
      const T* As = smem + stage * (Tile::kA + Tile::kB);
      const T* Bs = As + Tile::kA;
#pragma unroll
      for (int ks = 0; ks < kChunk; ks += 16) {
        uint32_t af[Tile::kMt][4];
#pragma unroll
        for (int mt = 0; mt < Tile::kMt; ++mt) {
          const int r = wm * Tile::kMt * 16 + mt * 16 + (lane & 15);
          ldmatrix_x4(af[mt], As + r * Tile::kLda + ks + (lane >> 4) * 8);
        }
#pragma unroll
        for (int np = 0; np < Tile::kNt / 2; ++np) {
          uint32_t bf[4];
          const int kr = ks + (lane & 7) + ((lane >> 3) & 1) * 8;
          ldmatrix_x4_trans(bf, Bs + kr * Tile::kLdb + wn * Tile::kNt * 8 + np * 16 +
                                    (lane >> 4) * 8);
#pragma unroll
          for (int mt = 0; mt < Tile::kMt; ++mt) {
            mma_16816<T>(acc[mt][2 * np], af[mt], bf[0], bf[1]);
            mma_16816<T>(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
          }
        }
      }
    });
    // mma's C layout: rows g and g + 8, columns 2t and 2t + 1 of each 16 x 8 tile
    const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
    for (int mt = 0; mt < Tile::kMt; ++mt) {
#pragma unroll
      for (int nt = 0; nt < Tile::kNt; ++nt) {
        const int64_t col = c0 + wn * Tile::kNt * 8 + nt * 8 + t2;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          T* dst = o + static_cast<int64_t>(wm * Tile::kMt * 16 + mt * 16 + g + 8 * h) * a.k + col;
          if (col < a.k) {
            dst[0] = from_float<T>(acc[mt][nt][2 * h]);
          }
          if (col + 1 < a.k) {
            dst[1] = from_float<T>(acc[mt][nt][2 * h + 1]);
          }
        }
      }
    }
  } else {
    const int ty = tid / Tile::kTx, tx = tid % Tile::kTx;
    float acc[Tile::kTm][8] = {};
    staged_loop<Tile::kStages>(steps, load, [&](int64_t, int stage) {
      const T* As = smem + stage * (Tile::kA + Tile::kB);
      const T* Bs = As + Tile::kA;
#pragma unroll 4
      for (int kk = 0; kk < kChunk; ++kk) {
        const float4 x0 = *reinterpret_cast<const float4*>(Bs + kk * Tile::kLdb + tx * 8);
        const float4 x1 = *reinterpret_cast<const float4*>(Bs + kk * Tile::kLdb + tx * 8 + 4);
        const float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
        for (int r = 0; r < Tile::kTm; ++r) {
          const float w = As[(ty * Tile::kTm + r) * Tile::kLda + kk];
#pragma unroll
          for (int c = 0; c < 8; ++c) {
            acc[r][c] = fmaf(w, x[c], acc[r][c]);
          }
        }
      }
    });
#pragma unroll
    for (int r = 0; r < Tile::kTm; ++r) {
      T* dst = o + static_cast<int64_t>(ty * Tile::kTm + r) * a.k + c0 + tx * 8;
#pragma unroll
      for (int c = 0; c < 8; ++c) {
        if (c0 + tx * 8 + c < a.k) {
          dst[c] = acc[r][c];
        }
      }
    }
  }
}

// Any block shape: one thread per output element, grid-stride over the rows x k of out[b].
template <typename T, typename I>
__device__ __forceinline__ void bsr_spmm_each(const I* indptr, const I* cols, const T* data,
                                              const T* X, T* out, BsrArgs a) {
  const int64_t count = a.mb * a.R * a.k, b = blockIdx.y;
  for (int64_t e = global_thread(); e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[b * count + e] =
        from_float<T>(bsr_spmm_element<T, I>(indptr, cols, data, X, a, b, e / a.k, e % a.k));
  }
}

} // namespace

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_BSR_SPMM(T, tn, I, in_) MS_BSR_ENTRIES(bsr_spmm, T, tn, I, in_)
MS_FOR_TYPES(MS_BSR_SPMM)
