// State dicts written by PyTorch's torch.save (>= 1.6: a zip archive), read without Python or LibTorch's
// unpickler (LibTorch 1.13's torch::pickle_load stops at the OrderedDict of a real state dict).
// Layout of such a file:
//   1. a zip archive of stored (uncompressed) entries under one folder PREFIX/ (the file name or "archive");
//   2. PREFIX/data.pkl: a pickle (protocol 2) of the object; each tensor is a call of
//      torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) whose
//      storage is a persistent id ('storage', torch.<Type>Storage, KEY, device, numel);
//   3. PREFIX/data/KEY: the raw little-endian bytes of storage KEY.
// Only what state dicts use is understood: dicts/OrderedDicts, tuples, lists, strings, numbers, None, booleans
// and tensors; any other Python object (a pickled class, a function) is refused, never executed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "diagecg/util/safetensors.h"  // DType

namespace diagecg {

struct CheckpointTensor {
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;  // contiguous (row-major), little-endian
    int64_t numel() const;
};

// Reads `path` and returns its state dict: the object itself when it is a dict of str -> tensor, or the dict of
// tensors under "model" or "state_dict" of a training checkpoint ({'model': state_dict, 'step': ..., ...}: what
// HeartLLM's tokenizer training saves). Anything else throws std::runtime_error with one line naming the file and
// what was found.
std::map<std::string, CheckpointTensor> read_torch_state_dict(const std::string& path);

}  // namespace diagecg
