// A subset of the output head's rows (token ids), copied out into one contiguous matrix so that logits over just
// those tokens cost a matmul the size of the subset. In small models the full head is most of a token's work:
// the early-exit confidence test and greedy drafting use a reduced head to stay cheap.
#pragma once
#include <cstdint>
#include <vector>

#include "../kernels/matmul.h"
#include "../kernels/pack.h"

namespace ir {

class ReducedHead {
 public:
  // ids must be valid rows of head (checked by the caller); empty clears the subset. The copy gets a packed copy
  // of its own where the full head's type has one (PackedWeights::attach), for the packed kernels and
  // matmul_argmax.
  void set(const Matrix& head, const std::vector<int32_t>& ids, ThreadPool& pool);
  bool empty() const { return ids_.empty(); }
  int size() const { return int(ids_.size()); }
  const Matrix& matrix() const { return matrix_; }
  // The token id of column i of the reduced logits.
  int32_t token(int i) const { return ids_[size_t(i)]; }

 private:
  std::vector<int32_t> ids_;
  std::vector<uint8_t> bytes_;
  PackedWeights packed_;
  Matrix matrix_{nullptr, 0, 0, 0};
};

}  // namespace ir
