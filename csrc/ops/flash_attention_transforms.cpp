// flash_attention's transforms. The vjp is the fused backward (FlashAttentionGrad); the jvp,
// the backward's own vjp and jvp, and nothing else are written with MLX ops on the layout's blocks
// (one (bs x bs) tile per stored block, never seq x seq), so they run on every backend and
// differentiate again. vmap folds the mapped axis into the kernels' batch axis.
#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>

#include "mlx/transforms.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

constexpr const char* kOp = "flash_attention";
constexpr int kLayout = 3; // inputs 3..7: row_ptr, col, t_ptr, t_row, t_block
constexpr int kValues = 8; // then bias and mask when present

// The layout's blocks as MLX values: block e's query block row (over B * Mb) and key block
// column (over B * Nb), and (n_blocks, bs, bs) float32 tiles gathered at them.
struct Blocks {
  array row;
  array col;
  int bs;
  mx::Stream s;

  // x[B, L, w] cut into (B * L / bs) blocks of rows, the one at each block's row / column.
  array at_rows(const array& x) const { return take(x, row); }
  array at_cols(const array& x) const { return take(x, col); }
  array take(const array& x, const array& at) const {
    const int w = x.ndim() == 3 ? x.shape(2) : 1;
    array blocks = mx::reshape(mx::astype(x, mx::float32, s), {-1, bs, w}, s);
    array out = mx::take(blocks, at, 0, s);
    return x.ndim() == 3 ? out : mx::squeeze(out, 2, s);
  }
  // Sums per-block (n_blocks, bs, w) tiles into the rows / columns they came from: [B, L, w].
  array to_rows(const array& tiles, const array& like) const { return put(tiles, row, like); }
  array to_cols(const array& tiles, const array& like) const { return put(tiles, col, like); }
  array put(const array& tiles, const array& at, const array& like) const {
    mx::Shape shape = {like.shape(0) * like.shape(1) / bs, bs};
    if (like.ndim() == 3) {
      shape.push_back(like.shape(2));
    }
    mx::Shape updates = shape;
    updates[0] = tiles.shape(0);
    updates.insert(updates.begin() + 1, 1);
    array sum = mx::scatter_add(mx::zeros(shape, mx::float32, s), at,
                                mx::reshape(tiles, updates, s), 0, s);
    return mx::astype(mx::reshape(sum, like.shape(), s), like.dtype(), s);
  }
};

// Block places from the layout's row_ptr and col (clipped: a traced layout stays in bounds).
Blocks blocks_of(const std::vector<array>& in, int bs, mx::Stream s) {
  const array &q = in[0], &k = in[1], &row_ptr = in[kLayout], &col = in[kLayout + 1];
  const int n = col.size(), rows = row_ptr.size() - 1;
  const int mb = q.shape(1) / bs, nb = k.shape(1) / bs;
  // block e's row = how many rows after the first start at or before e
  array starts = mx::zeros({n + 1}, mx::int32, s);
  if (rows > 1) {
    array inner = mx::clip(mx::slice(row_ptr, {1}, {rows}, s), array(0), array(n), s);
    starts = mx::scatter_add(starts, inner, mx::ones({rows - 1, 1}, mx::int32, s), 0, s);
  }
  array row = mx::slice(mx::cumsum(starts, 0, false, true, s), {0}, {n}, s);
  array j = mx::clip(col, array(0), array(std::max(nb - 1, 0)), s);
  array c = mx::add(mx::multiply(mx::floor_divide(row, array(std::max(mb, 1)), s), array(nb), s),
                    j, s);
  return {row, c, bs, s};
}

// p per block, (n_blocks, bs, bs) float32: exp(s - lse) where the column is attended and the
// row has one, else 0 (the inner where keeps masked entries' gradients finite).
array probabilities(const Blocks& b, const array& qe, const array& ke, const array& lse,
                    const std::optional<array>& bias, const std::optional<array>& mask,
                    float scale) {
  auto s = b.s;
  array scores = mx::multiply(mx::matmul(qe, mx::swapaxes(ke, 1, 2, s), s), array(scale), s);
  if (bias) {
    scores = mx::add(scores, mx::astype(*bias, mx::float32, s), s);
  }
  array lse_e = mx::expand_dims(b.at_rows(lse), 2, s);
  array live = mx::broadcast_to(mx::isfinite(lse_e, s), scores.shape(), s);
  if (mask) {
    live = mx::logical_and(live, mx::equal(*mask, array(0, mx::uint8), s), s);
  }
  array shifted = mx::where(live, mx::subtract(scores, lse_e, s), array(0.0f), s);
  return mx::where(live, mx::exp(shifted, s), array(0.0f), s);
}

std::optional<array> input_at(const std::vector<array>& in, bool present, size_t i) {
  return present ? std::optional<array>(in[i]) : std::nullopt;
}

std::vector<array> make_grad(std::vector<array> in, int block_size, float scale, bool has_bias,
                             bool has_mask, mx::Stream s) {
  std::vector<Shape> shapes = {in[0].shape(), in[1].shape(), in[2].shape()};
  std::vector<mx::Dtype> dtypes(3, in[0].dtype());
  if (has_bias) {
    shapes.push_back(in[kValues].shape());
    dtypes.push_back(in[kValues].dtype());
  }
  return array::make_arrays(
      shapes, dtypes,
      std::make_shared<FlashAttentionGrad>(s, block_size, scale, has_bias, has_mask),
      std::move(in));
}

// vmap: the mapped axis V folded into every value input's leading axis (B, or n_blocks for
// bias and mask), the layout repeated V times with its block ids offset. Returns V.
int fold_batch(std::vector<array>& in, const std::vector<int>& axes, mx::Stream s) {
  int v = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    if (axes[i] >= 0) {
      v = in[i].shape(axes[i]);
    }
  }
  for (int i = kLayout; i < kValues; ++i) {
    if (axes[i] >= 0) {
      throw std::invalid_argument("[flash_attention] the attention layout cannot be vmapped; "
                                  "map over q, k, v, the bias and the mask only.");
    }
  }
  const int n = in[kLayout + 1].size();
  dim(kOp, int64_t(v) * n, "blocks of the vmapped layout");
  array offsets = mx::reshape(mx::multiply(mx::arange(v, mx::int32, s), array(n), s), {v, 1}, s);
  auto repeat = [&](const array& a, bool offset, bool ptr) {
    array body = ptr ? mx::slice(a, {0}, {static_cast<int>(a.size()) - 1}, s) : a;
    body = mx::expand_dims(body, 0, s);
    body = offset ? mx::add(body, offsets, s)
                  : mx::broadcast_to(body, {v, static_cast<int>(body.size())}, s);
    body = mx::flatten(body, s);
    return ptr ? mx::concatenate({body, mx::full({1}, v * n, mx::int32, s)}, 0, s) : body;
  };
  in[kLayout] = repeat(in[kLayout], true, true);
  in[kLayout + 1] = repeat(in[kLayout + 1], false, false);
  in[kLayout + 2] = repeat(in[kLayout + 2], true, true);
  in[kLayout + 3] = repeat(in[kLayout + 3], false, false);
  in[kLayout + 4] = repeat(in[kLayout + 4], true, false);
  for (size_t i = 0; i < in.size(); ++i) {
    if (i >= size_t(kLayout) && i < size_t(kValues)) {
      continue;
    }
    array x = axes[i] >= 0 ? mx::moveaxis(in[i], axes[i], 0, s) : mx::expand_dims(in[i], 0, s);
    mx::Shape shape = x.shape();
    shape[0] = v;
    x = mx::broadcast_to(x, shape, s);
    shape.erase(shape.begin());
    shape[0] *= v;
    in[i] = mx::reshape(x, shape, s);
  }
  return v;
}

std::pair<std::vector<array>, std::vector<int>> unfold_batch(const std::vector<array>& out,
                                                             int v, mx::Stream s) {
  std::vector<array> res;
  for (const auto& x : out) {
    mx::Shape shape = x.shape();
    shape[0] /= v;
    shape.insert(shape.begin(), v);
    res.push_back(mx::reshape(x, shape, s));
  }
  return {res, std::vector<int>(res.size(), 0)};
}

} // namespace

std::vector<array> FlashAttention::vjp(const std::vector<array>& primals,
                                       const std::vector<array>& cotangents,
                                       const std::vector<int>& argnums,
                                       const std::vector<array>& outputs) {
  for (int arg : argnums) {
    if (arg >= kLayout && arg < kValues) {
      throw_index_grad(kOp);
    }
  }
  std::vector<array> in(primals.begin(), primals.end());
  in.push_back(outputs[0]);
  in.push_back(outputs[1]);
  // an unused output's cotangent comes as broadcast zeros: the kernels want it dense
  in.push_back(prepare(cotangents[0], outputs[0].dtype(), stream()));
  in.push_back(prepare(cotangents[1], mx::float32, stream()));
  auto grads = make_grad(std::move(in), block_size_, scale_, has_bias_, has_mask_, stream());
  std::vector<array> out;
  for (int arg : argnums) {
    if (arg < kLayout) {
      out.push_back(grads[arg]);
    } else if (has_bias_ && arg == kValues) {
      out.push_back(grads[3]);
    } else {
      out.push_back(mx::zeros_like(primals[arg], stream())); // the mask: not differentiable
    }
  }
  return out;
}

std::vector<array> FlashAttention::jvp(const std::vector<array>& primals,
                                       const std::vector<array>& tangents,
                                       const std::vector<int>& argnums) {
  auto s = stream();
  std::optional<array> tq, tk, tv, tbias;
  for (size_t i = 0; i < argnums.size(); ++i) {
    const int arg = argnums[i];
    if (arg >= kLayout && arg < kValues) {
      throw_index_grad(kOp);
    }
    auto& slot = arg == 0 ? tq : arg == 1 ? tk : arg == 2 ? tv : tbias;
    if (arg < kLayout || (has_bias_ && arg == kValues)) {
      slot = mx::astype(tangents[i], mx::float32, s);
    }
  }
  auto bias = input_at(primals, has_bias_, kValues);
  auto mask = input_at(primals, has_mask_, kValues + (has_bias_ ? 1 : 0));
  // lse from the fused forward; p, and the tangents, per block
  auto fwd = flash_attention(primals[0], primals[1], primals[2], primals[3], primals[4],
                             primals[5], primals[6], primals[7], bias, mask, block_size_, scale_,
                             s);
  const array &o = fwd[0], &lse = fwd[1];
  Blocks b = blocks_of(primals, block_size_, s);
  array qe = b.at_rows(primals[0]), ke = b.at_cols(primals[1]);
  array p = probabilities(b, qe, ke, lse, bias, mask, scale_);
  std::optional<array> dscores;
  auto add = [&](const array& term) { dscores = dscores ? mx::add(*dscores, term, s) : term; };
  if (tq) {
    add(mx::multiply(mx::matmul(b.at_rows(*tq), mx::swapaxes(ke, 1, 2, s), s), array(scale_), s));
  }
  if (tk) {
    add(mx::multiply(mx::matmul(qe, mx::swapaxes(b.at_cols(*tk), 1, 2, s), s), array(scale_), s));
  }
  if (tbias) {
    add(*tbias);
  }
  array tlse = mx::zeros(lse.shape(), mx::float32, s);
  array to = mx::zeros({p.shape(0), block_size_, o.shape(2)}, mx::float32, s);
  if (dscores) { // d p = p (d s - d lse), d lse = rowsum(p d s)
    array pds = mx::multiply(p, *dscores, s);
    tlse = b.to_rows(mx::sum(pds, -1, true, s), lse);
    array dp = mx::subtract(pds, mx::multiply(p, mx::expand_dims(b.at_rows(tlse), 2, s), s), s);
    to = mx::add(to, mx::matmul(dp, b.at_cols(primals[2]), s), s);
  }
  if (tv) {
    to = mx::add(to, mx::matmul(p, b.at_cols(*tv), s), s);
  }
  return {b.to_rows(to, o), tlse};
}

std::pair<std::vector<array>, std::vector<int>> FlashAttention::vmap(
    const std::vector<array>& inputs, const std::vector<int>& axes) {
  std::vector<array> in = inputs;
  const int v = fold_batch(in, axes, stream());
  auto out = flash_attention(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7],
                             input_at(in, has_bias_, kValues),
                             input_at(in, has_mask_, kValues + (has_bias_ ? 1 : 0)),
                             block_size_, scale_, stream());
  return unfold_batch(out, v, stream());
}

namespace {

// FlashAttentionGrad as a function of its differentiable inputs, written with MLX ops: the
// inputs' positions (`at`: q, k, v, [bias], then o, lse, do, dlse), their values, and the
// backward's formulas (docs/developer/flash_attention.md) in two steps: `tiles` gives the
// per-block terms, `finish` (linear) sums them into dq, dk, dv and casts dbias. The vjp is
// that of both; the jvp is tiles' (MLX's scatter has none) carried through finish.
struct GradAsOps {
  std::vector<size_t> at;
  std::vector<array> vals;
  std::function<std::vector<array>(const std::vector<array>&)> tiles;
  std::function<std::vector<array>(const std::vector<array>&, const std::vector<array>&)> finish;
  std::vector<array> backward(const std::vector<array>& x) const {
    return finish(tiles(x), x);
  }
};

GradAsOps grad_as_ops(const std::vector<array>& primals, int block_size, float scale,
                      bool has_bias, bool has_mask, mx::Stream s) {
  GradAsOps g;
  const size_t n_front = kValues + (has_bias ? 1 : 0) + (has_mask ? 1 : 0);
  g.at = {0, 1, 2};
  if (has_bias) {
    g.at.push_back(kValues);
  }
  for (size_t i = n_front; i < primals.size(); ++i) {
    g.at.push_back(i);
  }
  for (size_t i : g.at) {
    g.vals.push_back(primals[i]);
  }
  auto mask = input_at(primals, has_mask, n_front - 1);
  const Blocks b = blocks_of(primals, block_size, s);
  g.tiles = [b, mask, scale, has_bias, s](const std::vector<array>& x) {
    const size_t r = has_bias ? 4 : 3; // o, lse, do, dlse from here
    const array &q = x[0], &k = x[1], &v = x[2], &o = x[r], &lse = x[r + 1], &dout = x[r + 2];
    auto bias = input_at(x, has_bias, 3);
    array qe = b.at_rows(q), ke = b.at_cols(k), doe = b.at_rows(dout);
    array p = probabilities(b, qe, ke, lse, bias, mask, scale);
    array delta = mx::subtract(
        mx::sum(mx::multiply(mx::astype(dout, mx::float32, s), mx::astype(o, mx::float32, s), s),
                -1, false, s),
        x[r + 3], s);
    array dp = mx::matmul(doe, mx::swapaxes(b.at_cols(v), 1, 2, s), s);
    array ds = mx::multiply(p, mx::subtract(dp, mx::expand_dims(b.at_rows(delta), 2, s), s), s);
    array sds = mx::multiply(ds, array(scale), s);
    std::vector<array> t = {mx::matmul(sds, ke, s), mx::matmul(mx::swapaxes(sds, 1, 2, s), qe, s),
                            mx::matmul(mx::swapaxes(p, 1, 2, s), doe, s)};
    if (bias) {
      t.push_back(ds);
    }
    return t;
  };
  g.finish = [b, has_bias, s](const std::vector<array>& t, const std::vector<array>& x) {
    std::vector<array> grads = {b.to_rows(t[0], x[0]), b.to_cols(t[1], x[1]),
                                b.to_cols(t[2], x[2])};
    if (has_bias) {
      grads.push_back(mx::astype(t[3], x[3].dtype(), s));
    }
    return grads;
  };
  return g;
}

} // namespace

std::vector<array> FlashAttentionGrad::vjp(const std::vector<array>& primals,
                                           const std::vector<array>& cotangents,
                                           const std::vector<int>& argnums,
                                           const std::vector<array>&) {
  auto s = stream();
  GradAsOps g = grad_as_ops(primals, block_size_, scale_, has_bias_, has_mask_, s);
  auto grads = mx::vjp([&g](const std::vector<array>& x) { return g.backward(x); }, g.vals,
                       cotangents).second;
  std::vector<array> out;
  for (int arg : argnums) {
    if (arg >= kLayout && arg < kValues) {
      throw_index_grad(kOp);
    }
    auto it = std::find(g.at.begin(), g.at.end(), static_cast<size_t>(arg));
    out.push_back(it == g.at.end() ? mx::zeros_like(primals[arg], s) // the mask
                                   : grads[it - g.at.begin()]);
  }
  return out;
}

// Forward over reverse (e.g. a Hessian-vector product through the fused path): the jvp of
// the same formulas; the mask (not differentiable) takes no tangent.
std::vector<array> FlashAttentionGrad::jvp(const std::vector<array>& primals,
                                           const std::vector<array>& tangents,
                                           const std::vector<int>& argnums) {
  auto s = stream();
  GradAsOps g = grad_as_ops(primals, block_size_, scale_, has_bias_, has_mask_, s);
  std::vector<array> tans;
  for (size_t i = 0; i < g.at.size(); ++i) {
    tans.push_back(mx::zeros_like(g.vals[i], s));
  }
  for (size_t j = 0; j < argnums.size(); ++j) {
    if (argnums[j] >= kLayout && argnums[j] < kValues) {
      throw_index_grad(kOp);
    }
    auto it = std::find(g.at.begin(), g.at.end(), static_cast<size_t>(argnums[j]));
    if (it != g.at.end()) {
      tans[it - g.at.begin()] = tangents[j];
    }
  }
  return g.finish(mx::jvp(g.tiles, g.vals, tans).second, g.vals);
}

std::pair<std::vector<array>, std::vector<int>> FlashAttentionGrad::vmap(
    const std::vector<array>& inputs, const std::vector<int>& axes) {
  std::vector<array> in = inputs;
  const int v = fold_batch(in, axes, stream());
  return unfold_batch(make_grad(std::move(in), block_size_, scale_, has_bias_, has_mask_,
                                stream()),
                      v, stream());
}

} // namespace mlx_sparse
