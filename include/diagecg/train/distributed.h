// Data parallelism across processes with PyTorch's own engine, c10d: ProcessGroupGloo, or ProcessGroupNCCL
// for CUDA training when LibTorch was built with NCCL (USE_C10D_NCCL; a CPU-only LibTorch, like Debian's,
// compiles the Gloo path only, and CUDA gradients then travel through host memory). The world is read
// from torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Without WORLD_SIZE (or
// with WORLD_SIZE=1) there is one process and every call is a no-op.
//
// Several machines: start one process per core group on each machine with the same MASTER_ADDR (rank 0's
// host, reachable by all), MASTER_PORT, WORLD_SIZE, and distinct RANK 0..WORLD_SIZE-1, e.g. with torchrun
// or by hand:  RANK=1 WORLD_SIZE=4 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 diagecg pretrain --config ...
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace diagecg {

class Distributed {
public:
    virtual ~Distributed() = default;
    virtual int64_t rank() const = 0;
    virtual int64_t world_size() const = 0;
    bool is_main() const { return rank() == 0; }
    // Sums each tensor over all processes, in place (one flattened all-reduce per call).
    virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
    virtual void barrier() = 0;
};

// One process (world 1) or a c10d group from the environment (`cuda`: the ranks train on CUDA devices);
// throws std::runtime_error with the variable at fault when the environment is inconsistent, or when
// rendezvous fails.
std::unique_ptr<Distributed> init_distributed_from_env(bool cuda = false);

}  // namespace diagecg
