// The authors' FSQ_AE state dict (HeartLLM ecg_tokenizer/tokenizer.py, saved by torch.save) <-> a heartllm
// EcgTokenizer. Tensor names follow one table (heartllm-checkpoint.cpp, kNameTable):
//   enc.blocks.S.0.inc.b1|b2|b3|b4.weight  <->  enc_blocks.S.k3|k5|k7|pool_proj.weight
//   enc.blocks.S.0.match.weight            <->  enc_blocks.S.residual.weight
//   enc.blocks.S.0.norm.*                  <->  enc_blocks.S.norm.*
//   enc.blocks.S.1.weight                  <->  enc_down.S.weight
//   enc.bottleneck.(inc.bN|norm).*         <->  bottleneck.(k3|k5|k7|pool_proj|norm).*
//   enc.to_code.*  <->  to_latent.*          dec.expand.*  <->  from_latent.*
//   dec.up.S.*     <->  dec_up.S.*           dec.dec.S.(inc.bN|norm).*  <->  dec_blocks.S.(...).*
//   dec.final.*    <->  output_conv.*
// The FSQ has no weights; its levels, T, GroupNorm groups and LeakyReLU slope are not in a state dict and come
// from the caller (the authors': 6 levels, T = 5000, GroupNorm(8), slope 0.01).
#pragma once

#include <map>
#include <string>

#include "diagecg/tokenizer/ecg-tokenizer.h"
#include "diagecg/util/torch-checkpoint.h"

namespace diagecg {

// Name in the authors' state dict -> ours, and back; "" when the name is not in the table.
std::string heartllm_name_to_ours(const std::string& theirs);
std::string heartllm_name_from_ours(const std::string& ours);

// What a state dict does not say (defaults: the authors' values).
struct HeartllmImportOptions {
    int64_t n_samples = 5000;
    int64_t groups = 8;
    int64_t fsq_level = 6;  // levels per latent dim (the same for every dim, as theirs)
    double negative_slope = 0.01;
    bool allow_missing_decoder = false;  // encoder-only state dicts (tests): the decoder keeps its initialisation
};

// Builds a heartllm tokenizer from the authors' state dict; channels, leads, stages and latent dims are read off
// the tensor shapes (a leading "module." of DataParallel is dropped). Every missing, unexpected or mis-shaped
// tensor is reported in one std::runtime_error.
EcgTokenizer heartllm_tokenizer_from_state_dict(const std::map<std::string, CheckpointTensor>& state,
                                                const HeartllmImportOptions& opt = {},
                                                const std::string& what = "state dict");

// Writes a heartllm tokenizer's weights in the authors' training-checkpoint layout, {'model': state_dict,
// 'step': 0}, readable by torch.load (FSQ_AE.load_state_dict(ckpt['model'], strict=True)); atomically.
void save_heartllm_state_dict(EcgTokenizer& net, const std::string& path);

}  // namespace diagecg
