#include "diagecg/util/torch-checkpoint.h"

#include <cstring>
#include <memory>
#include <stdexcept>

#include "diagecg/util/byte-reader.h"

namespace diagecg {

int64_t CheckpointTensor::numel() const {
    int64_t n = 1;
    for (const int64_t d : shape) n *= d;
    return n;
}

namespace {

// ---- zip: the central directory's stored entries --------------------------------------------------------
struct ZipEntry {
    uint64_t offset = 0, size = 0;  // of the entry's data in the file
};

std::map<std::string, ZipEntry> read_zip(const std::vector<uint8_t>& f, const std::string& path) {
    const auto bad = [&path](const std::string& why) {
        return std::runtime_error(path + ": not a PyTorch zip checkpoint: " + why);
    };
    const uint64_t n = f.size();
    if (n < 22) throw bad("too short");
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(n) - 22; i >= 0 && i >= static_cast<int64_t>(n) - 22 - 65535; --i)
        if (load_u32le(&f[i]) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd < 0) throw bad("no end-of-central-directory record");
    uint64_t count = load_u16le(&f[eocd + 10]), cd_off = load_u32le(&f[eocd + 16]);
    if (count == 0xffff || cd_off == 0xffffffff) {  // zip64: locator just before the record
        if (eocd < 20 || load_u32le(&f[eocd - 20]) != 0x07064b50) throw bad("zip64 locator missing");
        const uint64_t z = load_u64le(&f[eocd - 12]);
        if (z + 56 > n || load_u32le(&f[z]) != 0x06064b50) throw bad("zip64 end record missing");
        count = load_u64le(&f[z + 32]);
        cd_off = load_u64le(&f[z + 48]);
    }
    std::map<std::string, ZipEntry> out;
    uint64_t p = cd_off;
    for (uint64_t e = 0; e < count; ++e) {
        if (p + 46 > n || load_u32le(&f[p]) != 0x02014b50)
            throw bad("central directory entry " + std::to_string(e) + " is damaged");
        const uint16_t method = load_u16le(&f[p + 10]);
        uint64_t csize = load_u32le(&f[p + 20]), usize = load_u32le(&f[p + 24]), local = load_u32le(&f[p + 42]);
        const uint16_t name_len = load_u16le(&f[p + 28]), extra_len = load_u16le(&f[p + 30]),
                       comment_len = load_u16le(&f[p + 32]);
        if (p + 46 + name_len + extra_len > n)
            throw bad("central directory entry " + std::to_string(e) + " is damaged");
        const std::string name(reinterpret_cast<const char*>(&f[p + 46]), name_len);
        for (uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {  // zip64 extra field
            const uint16_t id = load_u16le(&f[x]), len = load_u16le(&f[x + 2]);
            uint64_t q = x + 4;
            if (id == 0x0001) {
                if (usize == 0xffffffff && q + 8 <= x + 4 + len) usize = load_u64le(&f[q]), q += 8;
                if (csize == 0xffffffff && q + 8 <= x + 4 + len) csize = load_u64le(&f[q]), q += 8;
                if (local == 0xffffffff && q + 8 <= x + 4 + len) local = load_u64le(&f[q]);
            }
            x += 4 + len;
        }
        if (method != 0)
            throw bad("entry " + name + " is compressed (method " + std::to_string(method) +
                      "); torch.save stores entries");
        if (local + 30 > n || load_u32le(&f[local]) != 0x04034b50) throw bad("local header of " + name + " is damaged");
        const uint64_t data = local + 30 + load_u16le(&f[local + 26]) + load_u16le(&f[local + 28]);
        if (csize != usize || data + usize > n) throw bad("entry " + name + " runs past the end of the file");
        out[name] = {data, usize};
        p += 46 + name_len + extra_len + comment_len;
    }
    return out;
}

// ---- pickle: the subset state dicts use -------------------------------------------------------------------
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Value {
    enum Kind {
        kNone,
        kBool,
        kInt,
        kFloat,
        kStr,
        kTuple,
        kList,
        kDict,
        kGlobal,
        kStorage,
        kTensor,
        kMark
    } kind = kNone;
    int64_t i = 0;
    double f = 0;
    std::string s;                                    // str; global "module.name"; storage key
    std::vector<ValuePtr> items;                      // tuple, list
    std::vector<std::pair<ValuePtr, ValuePtr>> dict;  // dict, in insertion order
    DType dtype = DType::kF32;                        // storage
    CheckpointTensor tensor;
};

const char* kind_name(Value::Kind k) {
    static const char* names[] = {"None", "bool", "int",   "float",   "str",    "tuple",
                                  "list", "dict", "class", "storage", "tensor", "mark"};
    return names[k];
}

ValuePtr make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
}

DType storage_dtype(const std::string& global, const std::string& path) {
    static const std::map<std::string, DType> types = {
        {"torch.FloatStorage", DType::kF32},     {"torch.HalfStorage", DType::kF16},
        {"torch.BFloat16Storage", DType::kBF16}, {"torch.DoubleStorage", DType::kF64},
        {"torch.LongStorage", DType::kI64},      {"torch.IntStorage", DType::kI32},
        {"torch.ShortStorage", DType::kI16},     {"torch.CharStorage", DType::kI8},
        {"torch.ByteStorage", DType::kU8},       {"torch.BoolStorage", DType::kBool}};
    const auto it = types.find(global);
    if (it == types.end()) throw std::runtime_error(path + ": unsupported storage type " + global);
    return it->second;
}

class Unpickler {
public:
    Unpickler(const std::vector<uint8_t>& file, const std::map<std::string, ZipEntry>& zip, std::string prefix,
              std::string path)
        : f_(file), zip_(zip), prefix_(std::move(prefix)), path_(std::move(path)) {}

    ValuePtr run(uint64_t begin, uint64_t end) {
        p_ = begin;
        end_ = end;
        while (true) {
            const uint8_t op = u8();
            switch (op) {
                case 0x80:
                    u8();
                    break;  // PROTO
                case 0x95:
                    take(8);
                    break;  // FRAME (protocol 4)
                case '.':
                    return pop();  // STOP
                case '}':
                    push(make(Value::kDict));
                    break;  // EMPTY_DICT
                case ']':
                    push(make(Value::kList));
                    break;  // EMPTY_LIST
                case ')':
                    push(make(Value::kTuple));
                    break;  // EMPTY_TUPLE
                case '(':
                    push(make(Value::kMark));
                    break;  // MARK
                case 'N':
                    push(make(Value::kNone));
                    break;
                case 0x88:
                case 0x89: {
                    auto v = make(Value::kBool);
                    v->i = op == 0x88;
                    push(v);
                    break;
                }  // NEWTRUE/NEWFALSE
                case 'K':
                    push_int(u8());
                    break;  // BININT1
                case 'M':
                    push_int(load_u16le(take(2)));
                    break;  // BININT2
                case 'J':
                    push_int(static_cast<int32_t>(load_u32le(take(4))));
                    break;    // BININT
                case 0x8a: {  // LONG1
                    const uint8_t n = u8();
                    if (n > 8) fail("integer wider than 64 bits");
                    const uint8_t* b = take(n);
                    uint64_t u = 0;
                    for (int k = 0; k < n; ++k) u |= static_cast<uint64_t>(b[k]) << (8 * k);
                    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
                    push_int(static_cast<int64_t>(u));
                    break;
                }
                case 'G': {  // BINFLOAT (big-endian)
                    const uint8_t* b = take(8);
                    uint64_t u = 0;
                    for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];
                    auto v = make(Value::kFloat);
                    std::memcpy(&v->f, &u, 8);
                    push(v);
                    break;
                }
                case 'X': {
                    const uint32_t n = load_u32le(take(4));
                    push_str(take(n), n);
                    break;
                }  // BINUNICODE
                case 0x8c: {
                    const uint8_t n = u8();
                    push_str(take(n), n);
                    break;
                }  // SHORT_BINUNICODE
                case 'q':
                    memo_[u8()] = top();
                    break;  // BINPUT
                case 'r':
                    memo_[load_u32le(take(4))] = top();
                    break;  // LONG_BINPUT
                case 0x94:
                    memo_[memo_.size()] = top();
                    break;  // MEMOIZE
                case 'h':
                    push(memo(u8()));
                    break;  // BINGET
                case 'j':
                    push(memo(load_u32le(take(4))));
                    break;  // LONG_BINGET
                case 't': {
                    auto v = make(Value::kTuple);
                    v->items = pop_to_mark();
                    push(v);
                    break;
                }  // TUPLE
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1..3
                    auto v = make(Value::kTuple);
                    v->items.resize(op - 0x84);
                    for (size_t k = v->items.size(); k-- > 0;) v->items[k] = pop();
                    push(v);
                    break;
                }
                case 'a': {
                    auto x = pop();
                    expect(top(), Value::kList, "APPEND")->items.push_back(x);
                    break;
                }
                case 'e': {
                    auto xs = pop_to_mark();
                    auto& l = expect(top(), Value::kList, "APPENDS")->items;
                    l.insert(l.end(), xs.begin(), xs.end());
                    break;
                }
                case 's': {
                    auto v = pop();
                    auto k = pop();
                    expect(top(), Value::kDict, "SETITEM")->dict.emplace_back(k, v);
                    break;
                }
                case 'u': {  // SETITEMS
                    auto xs = pop_to_mark();
                    if (xs.size() % 2) fail("SETITEMS with an odd number of values");
                    auto& d = expect(top(), Value::kDict, "SETITEMS")->dict;
                    for (size_t k = 0; k < xs.size(); k += 2) d.emplace_back(xs[k], xs[k + 1]);
                    break;
                }
                case 'c': {  // GLOBAL "module\nname\n"
                    auto v = make(Value::kGlobal);
                    const std::string module = line();
                    v->s = module + "." + line();
                    push(v);
                    break;
                }
                case 'Q':
                    push(persistent(pop()));
                    break;  // BINPERSID
                case 'R': {
                    auto args = pop();
                    auto fn = pop();
                    push(reduce(fn, args));
                    break;
                }
                case 0x81: {  // NEWOBJ: an instance of a class
                    pop();
                    const auto cls = pop();
                    fail("refusing to create a " +
                         (cls->kind == Value::kGlobal ? cls->s : std::string(kind_name(cls->kind))) +
                         " object (only dicts of tensors are read; is this a pickled model object?)");
                }
                case 'b': {  // BUILD: the OrderedDict's _metadata; dropped
                    pop();
                    if (top()->kind != Value::kDict && top()->kind != Value::kTensor)
                        fail("BUILD of a " + std::string(kind_name(top()->kind)));
                    break;
                }
                default:
                    fail("unsupported pickle opcode 0x" + hex(op) + " (not a plain state dict)");
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string& why) const { throw std::runtime_error(path_ + ": " + why); }
    static std::string hex(uint8_t b) {
        const char* d = "0123456789abcdef";
        return {d[b >> 4], d[b & 15]};
    }
    const uint8_t* take(uint64_t n) {
        if (n > end_ - p_) fail("data.pkl ends in the middle of an instruction");
        const uint8_t* b = &f_[p_];
        p_ += n;
        return b;
    }
    uint8_t u8() { return *take(1); }
    std::string line() {
        std::string s;
        for (char c; (c = static_cast<char>(u8())) != '\n';) s += c;
        return s;
    }
    void push(ValuePtr v) { stack_.push_back(std::move(v)); }
    void push_int(int64_t i) {
        auto v = make(Value::kInt);
        v->i = i;
        push(v);
    }
    void push_str(const uint8_t* b, uint64_t n) {
        auto v = make(Value::kStr);
        v->s.assign(reinterpret_cast<const char*>(b), n);
        push(v);
    }
    ValuePtr top() const {
        if (stack_.empty()) fail("pickle stack underflow");
        return stack_.back();
    }
    ValuePtr pop() {
        auto v = top();
        stack_.pop_back();
        return v;
    }
    std::vector<ValuePtr> pop_to_mark() {
        std::vector<ValuePtr> xs;
        while (top()->kind != Value::kMark) xs.insert(xs.begin(), pop());
        pop();
        return xs;
    }
    ValuePtr memo(uint64_t k) const {
        const auto it = memo_.find(k);
        if (it == memo_.end()) fail("pickle memo " + std::to_string(k) + " is not set");
        return it->second;
    }
    ValuePtr expect(ValuePtr v, Value::Kind k, const char* op) const {
        if (v->kind != k) fail(std::string(op) + " on a " + kind_name(v->kind));
        return v;
    }

    ValuePtr persistent(const ValuePtr& pid) {
        if (pid->kind != Value::kTuple || pid->items.size() != 5 || pid->items[0]->kind != Value::kStr ||
            pid->items[0]->s != "storage" || pid->items[1]->kind != Value::kGlobal ||
            pid->items[2]->kind != Value::kStr || pid->items[4]->kind != Value::kInt)
            fail("unsupported persistent id (expected ('storage', type, key, device, numel))");
        auto v = make(Value::kStorage);
        v->dtype = storage_dtype(pid->items[1]->s, path_);
        v->s = pid->items[2]->s;
        v->i = pid->items[4]->i;
        return v;
    }

    static std::vector<int64_t> ints(const ValuePtr& t, const char* what, const Unpickler& u) {
        if (t->kind != Value::kTuple) u.fail(std::string("tensor ") + what + " is not a tuple");
        std::vector<int64_t> out;
        for (const auto& x : t->items) {
            if (x->kind != Value::kInt || x->i < 0)
                u.fail(std::string("tensor ") + what + " holds a non-integer or negative value");
            out.push_back(x->i);
        }
        return out;
    }

    ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
        if (fn->kind != Value::kGlobal || args->kind != Value::kTuple)
            fail("REDUCE of a " + std::string(kind_name(fn->kind)));
        if (fn->s == "collections.OrderedDict") return make(Value::kDict);
        if (fn->s == "torch.jit._pickle.restore_type_tag") {  // (value, type string): LibTorch's pickle_save
            if (args->items.empty()) fail("restore_type_tag without a value");
            return args->items[0];
        }
        if (fn->s == "torch._utils._rebuild_parameter") {  // (data, requires_grad, hooks)
            if (args->items.empty() || args->items[0]->kind != Value::kTensor)
                fail("_rebuild_parameter without a tensor");
            return args->items[0];
        }
        if (fn->s != "torch._utils._rebuild_tensor_v2")
            fail("refusing to call " + fn->s + " (only dicts of tensors are read; is this a pickled model object?)");
        if (args->items.size() < 4 || args->items[0]->kind != Value::kStorage || args->items[1]->kind != Value::kInt)
            fail("malformed _rebuild_tensor_v2 arguments");
        const Value& st = *args->items[0];
        const int64_t offset = args->items[1]->i;
        auto v = make(Value::kTensor);
        v->tensor.dtype = st.dtype;
        v->tensor.shape = ints(args->items[2], "size", *this);
        const auto stride = ints(args->items[3], "stride", *this);
        if (stride.size() != v->tensor.shape.size()) fail("tensor size and stride differ in rank");
        const std::string entry = prefix_ + "data/" + st.s;
        const auto it = zip_.find(entry);
        if (it == zip_.end()) fail("storage " + entry + " is missing from the archive");
        const size_t es = dtype_size(st.dtype);
        if (st.i < 0 || it->second.size != static_cast<uint64_t>(st.i) * es)
            fail("storage " + entry + " has the wrong size");
        const int64_t numel = v->tensor.numel();
        int64_t last = offset;  // the highest element index the view reaches
        for (size_t d = 0; d < stride.size(); ++d) last += (v->tensor.shape[d] - 1) * stride[d];
        if (numel > 0 && (offset < 0 || last >= st.i)) fail("a tensor view runs past its storage " + entry);
        v->tensor.data.resize(static_cast<size_t>(numel) * es);
        const uint8_t* src = &f_[it->second.offset];
        std::vector<int64_t> idx(stride.size(), 0);
        for (int64_t k = 0; k < numel; ++k) {  // row-major walk over the view
            int64_t e = offset;
            for (size_t d = 0; d < idx.size(); ++d) e += idx[d] * stride[d];
            std::memcpy(&v->tensor.data[static_cast<size_t>(k) * es], src + static_cast<size_t>(e) * es, es);
            for (size_t d = idx.size(); d-- > 0;) {
                if (++idx[d] < v->tensor.shape[d]) break;
                idx[d] = 0;
            }
        }
        return v;
    }

    const std::vector<uint8_t>& f_;
    const std::map<std::string, ZipEntry>& zip_;
    std::string prefix_, path_;
    uint64_t p_ = 0, end_ = 0;
    std::vector<ValuePtr> stack_;
    std::map<uint64_t, ValuePtr> memo_;
};

bool is_tensor_dict(const Value& v) {
    if (v.kind != Value::kDict || v.dict.empty()) return false;
    for (const auto& [k, x] : v.dict)
        if (k->kind != Value::kStr || x->kind != Value::kTensor) return false;
    return true;
}

}  // namespace

std::map<std::string, CheckpointTensor> read_torch_state_dict(const std::string& path) {
    const std::vector<uint8_t> f = read_file_bytes(path);
    if (f.size() >= 2 && f[0] == 0x80 && f[1] == 0x02)
        throw std::runtime_error(
            path + ": a legacy (pre-1.6, non-zip) torch.save file; re-save it with torch.save in PyTorch >= 1.6");
    if (f.size() < 4 || load_u32le(f.data()) != 0x04034b50)
        throw std::runtime_error(path + ": not a PyTorch checkpoint (no zip archive)");
    const auto zip = read_zip(f, path);
    std::string prefix;
    for (const auto& [name, e] : zip) {
        const auto slash = name.find('/');
        if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0)
            prefix = name.substr(0, slash + 1);
    }
    if (prefix.empty()) throw std::runtime_error(path + ": not a PyTorch checkpoint (no */data.pkl in the archive)");
    const ZipEntry& pkl = zip.at(prefix + "data.pkl");
    Unpickler u(f, zip, prefix, path);
    const ValuePtr root = u.run(pkl.offset, pkl.offset + pkl.size);

    const Value* dict = nullptr;
    if (is_tensor_dict(*root)) {
        dict = root.get();
    } else if (root->kind == Value::kDict) {
        for (const auto& [k, x] : root->dict)
            if (k->kind == Value::kStr && (k->s == "model" || k->s == "state_dict") && is_tensor_dict(*x))
                dict = x.get();
    }
    if (!dict) {
        std::string what = std::string("a ") + kind_name(root->kind);
        if (root->kind == Value::kDict) {
            what = "a dict with keys";
            int n = 0;
            for (const auto& [k, x] : root->dict) {
                if (n++ == 6) {
                    what += " ...";
                    break;
                }
                what += " '" + (k->kind == Value::kStr ? k->s : std::string(kind_name(k->kind))) + "' (" +
                        kind_name(x->kind) + ")";
            }
        }
        throw std::runtime_error(
            path + ": not a state dict (a dict of name -> tensor, or one under \"model\"): found " + what);
    }
    std::map<std::string, CheckpointTensor> out;
    for (const auto& [k, x] : dict->dict) out[k->s] = x->tensor;
    return out;
}

}  // namespace diagecg
