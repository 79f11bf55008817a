// A C interface over SentencePiece, built as its own shared object.
//
// Why: Debian's libsentencepiece carries a private copy of protobuf 3.14 and exports its symbols, while
// LibTorch links the system libprotobuf 3.21. Linked into one process, whichever loads first interposes
// on the other and the program crashes before main(). text-tokenizer.cpp therefore loads this shim with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so SentencePiece binds to its own protobuf and nothing leaks into
// the global symbol scope. Only this file and text-tokenizer.cpp know about SentencePiece.
#include <cstdlib>
#include <cstring>
#include <ext/stdio_sync_filebuf.h>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace {

char* dup_string(const std::string& s) {
    char* p = static_cast<char*>(std::malloc(s.size() + 1));
    if (p) std::memcpy(p, s.data(), s.size() + 1);
    return p;
}

// DEEPBIND binds this object (and SentencePiece's trainer, which logs to std::cerr and std::cout) to
// libstdc++'s own std::cerr / std::cout. An executable that uses the streams carries copy-relocated
// instances of them, and libstdc++'s start-up constructs those, leaving its own ones as zeroed memory;
// writing to them crashes. Construct them, over stdio, when they are still zero.
void ensure_streams() {
    static bool done = false;
    if (done) return;
    done = true;
    auto zero = [](const void* p) { return *static_cast<void* const*>(p) == nullptr; };
    if (zero(&std::cerr)) {
        static __gnu_cxx::stdio_sync_filebuf<char> buf(stderr);
        new (&std::cerr) std::ostream(&buf);
    }
    if (zero(&std::cout)) {
        static __gnu_cxx::stdio_sync_filebuf<char> buf(stdout);
        new (&std::cout) std::ostream(&buf);
    }
}

}  // namespace

extern "C" {

// Returns a processor handle or nullptr with *err set (free with spm_free_buffer).
void* spm_load(const char* path, char** err) {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    const auto status = sp->Load(path);
    if (!status.ok()) {
        *err = dup_string(status.ToString());
        delete sp;
        return nullptr;
    }
    return sp;
}

void spm_release(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }
void spm_free_buffer(void* p) { std::free(p); }

int spm_piece_size(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize(); }
int spm_bos_id(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->bos_id(); }
int spm_eos_id(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->eos_id(); }

// 0 on success: *ids (malloc'd, free with spm_free_buffer) holds *n ids. Non-zero: *err is set.
int spm_encode(void* h, const char* text, size_t len, int** ids, size_t* n, char** err) {
    std::vector<int> out;
    const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(std::string(text, len), &out);
    if (!status.ok()) {
        *err = dup_string(status.ToString());
        return 1;
    }
    *n = out.size();
    *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.size() + 1)));
    std::memcpy(*ids, out.data(), sizeof(int) * out.size());
    return 0;
}

int spm_decode(void* h, const int* ids, size_t n, char** text, size_t* len, char** err) {
    std::string out;
    const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(h)->Decode(std::vector<int>(ids, ids + n), &out);
    if (!status.ok()) {
        *err = dup_string(status.ToString());
        return 1;
    }
    *len = out.size();
    *text = dup_string(out);
    return 0;
}

char* spm_id_to_piece(void* h, int id) { return dup_string(static_cast<sentencepiece::SentencePieceProcessor*>(h)->IdToPiece(id)); }

// Trains a model with SentencePiece's own trainer; args as on its command line ("--input=... --model_prefix=...").
int spm_train(const char* args, char** err) {
    ensure_streams();
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    if (!status.ok()) {
        *err = dup_string(status.ToString());
        return 1;
    }
    return 0;
}

}  // extern "C"
