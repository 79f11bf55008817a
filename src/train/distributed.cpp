#include "diagecg/train/distributed.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL   // defined by CUDA builds of LibTorch
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "diagecg/util/log.h"
#include "diagecg/util/torch-compat.h"

namespace diagecg {

namespace {

class SingleProcess : public Distributed {
public:
    int64_t rank() const override { return 0; }
    int64_t world_size() const override { return 1; }
    void all_reduce_sum(std::vector<torch::Tensor>&) override {}
    void barrier() override {}
};

class C10dGroup : public Distributed {
public:
    C10dGroup(int64_t rank, int64_t world, const std::string& addr, int port, bool cuda) : rank_(rank), world_(world) {
        c10d::TCPStoreOptions so;
        so.port = static_cast<uint16_t>(port);
        so.isServer = rank == 0;
        so.numWorkers = static_cast<size_t>(world);
        so.timeout = std::chrono::seconds(300);
        store_ = c10::make_intrusive<c10d::TCPStore>(addr, so);
        if (cuda) {
#ifdef USE_C10D_NCCL
            pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, static_cast<int>(rank), static_cast<int>(world));
            nccl_ = true;
            return;
#else
            log::warn("this LibTorch has no NCCL: CUDA gradients are reduced through Gloo in host memory");
#endif
        }
        auto opts = c10d::ProcessGroupGloo::Options::create();
        opts->timeout = std::chrono::seconds(1800);
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(addr == "localhost" ? "127.0.0.1" : addr));
        pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(rank), static_cast<int>(world), opts);
    }
    int64_t rank() const override { return rank_; }
    int64_t world_size() const override { return world_; }

    void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
        if (tensors.empty()) return;
        // NCCL reduces on the GPU; Gloo in host memory.
        const torch::Device dev = nccl_ ? tensors[0].device() : torch::Device(torch::kCPU);
        std::vector<torch::Tensor> flat_parts;
        for (const auto& t : tensors) flat_parts.push_back(t.detach().to(dev, torch::kFloat).reshape(-1));
        std::vector<torch::Tensor> buf{torch::cat(flat_parts)};
        pg_->allreduce(buf)->wait();
        int64_t off = 0;
        torch::NoGradGuard ng;
        for (auto& t : tensors) {
            const int64_t n = t.numel();
            t.copy_(buf[0].slice(0, off, off + n).view(t.sizes()));
            off += n;
        }
    }
    void barrier() override { pg_->barrier()->wait(); }

private:
    int64_t rank_, world_;
    c10::intrusive_ptr<c10d::TCPStore> store_;
    c10::intrusive_ptr<compat::C10dBackend> pg_;
    bool nccl_ = false;
};

int64_t env_int(const char* name, int64_t fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    const long long x = std::strtoll(v, &end, 10);
    if (!end || *end != '\0') throw std::runtime_error(std::string("environment variable ") + name + "=\"" + v + "\" is not an integer");
    return x;
}

}  // namespace

std::unique_ptr<Distributed> init_distributed_from_env(bool cuda) {
    const int64_t world = env_int("WORLD_SIZE", 1);
    if (world < 1) throw std::runtime_error("WORLD_SIZE must be >= 1, got " + std::to_string(world));
    if (world == 1) return std::make_unique<SingleProcess>();
    const int64_t rank = env_int("RANK", -1);
    if (rank < 0 || rank >= world)
        throw std::runtime_error("WORLD_SIZE=" + std::to_string(world) + " needs RANK in [0, " + std::to_string(world - 1) + "]");
    const char* addr = std::getenv("MASTER_ADDR");
    const int64_t port = env_int("MASTER_PORT", 29500);
    if (port <= 0 || port > 65535) throw std::runtime_error("MASTER_PORT must be a TCP port, got " + std::to_string(port));
    const std::string host = addr && *addr ? addr : "127.0.0.1";
    log::info("data parallel: rank {} of {} (local rank {}), rendezvous at {}:{}", rank, world, env_int("LOCAL_RANK", rank),
              host, port);
    try {
        return std::make_unique<C10dGroup>(rank, world, host, static_cast<int>(port), cuda);
    } catch (const std::exception& e) {
        throw std::runtime_error("c10d rendezvous at " + host + ":" + std::to_string(port) + " failed: " + e.what());
    }
}

}  // namespace diagecg
