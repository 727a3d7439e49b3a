// Tensor creation, metadata, data access, views (with their autograd rules) and printing.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "../backend.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/philox.hpp"
#include "tensor_impl.hpp"

namespace rflow {

// ---------------------------------------------------------------- storage and helpers

Storage::Storage(int64_t n, Device d) : numel(n), device(d) { ptr = backend::get(d).alloc(n); }
Storage::~Storage() {
    if (ptr) backend::get(device).free(ptr);
}

// Row-major strides; a zero-size dimension counts as 1 so every stride stays meaningful. Sides
// whose product overflows int64 (possible with a zero-size dimension beside huge ones, e.g. from a
// file) are an error, not undefined behaviour.
std::vector<int64_t> contiguous_strides(const Shape& shape) {
    std::vector<int64_t> s(shape.size());
    int64_t acc = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        s[i] = acc;
        RFLOW_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(shape[i], 1), &acc),
                    "shape " << shape_str(shape) << " is too large: its strides overflow 64-bit integers");
    }
    return s;
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s)
        RFLOW_CHECK(!__builtin_mul_overflow(n, d, &n), "shape " << shape_str(s) << " has more elements than 64-bit integers count");
    return n;
}

std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << "]";
    return os.str();
}

int64_t wrap_dim(int64_t d, int64_t rank, const char* what) {
    RFLOW_CHECK(rank > 0, what << ": dimension " << d << " of a 0-D tensor (a scalar has no dimensions)");
    int64_t w = d < 0 ? d + rank : d;
    RFLOW_CHECK(w >= 0 && w < rank, what << ": dimension " << d << " out of range for rank " << rank);
    return w;
}

namespace {

// Host <-> device copies that skip empty tensors: their storage pointer may be null, and even a
// zero-byte memcpy from null is undefined behaviour.
void copy_from_host(Device device, const float* host, float* dst, int64_t n) {
    if (n > 0) backend::get(device).from_host(host, dst, n);
}
void copy_to_host(Device device, const float* src, float* host, int64_t n) {
    if (n > 0) backend::get(device).to_host(src, host, n);
}

}  // namespace

Tensor make_tensor(const Shape& shape, Device device) {
    for (int64_t d : shape) RFLOW_CHECK(d >= 0, "negative size in shape " << shape_str(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(shape_numel(shape), device);
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& t, const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = t.impl()->storage;
    impl->shape = shape;
    impl->strides = strides;
    impl->offset = offset;
    return Tensor(std::move(impl));
}

static const TensorImpl& checked(const TensorImpl* p) {
    RFLOW_CHECK(p, "operation on an undefined tensor");
    return *p;
}

// ---------------------------------------------------------------- creation

Tensor Tensor::empty(const Shape& shape, Device device) { return make_tensor(shape, device); }

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }

Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
    Tensor t = make_tensor(shape, device);
    backend::get(device).fill(t, value);
    return t;
}

Tensor Tensor::scalar(float value, Device device) { return full({}, value, device); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
    RFLOW_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
                values.size() << " values do not fill shape " << shape_str(shape));
    Tensor t = make_tensor(shape, device);
    copy_from_host(device, values.data(), t.impl()->data(), t.numel());
    return t;
}

Tensor Tensor::arange(int64_t n, Device device) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
    return from_vector(v, {n}, device);
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, float lo, float hi, Device device) {
    Tensor t = make_tensor(shape, device);
    const uint64_t start = gen.reserve(static_cast<uint64_t>(t.numel()));
    backend::get(device).uniform(t, gen.seed(), gen.stream(), start, lo, hi);
    return t;
}

Tensor Tensor::normal(const Shape& shape, Generator& gen, float mean, float std, Device device) {
    Tensor t = make_tensor(shape, device);
    // a normal consumes two words; reserve() returns a block-aligned (even) word offset
    const uint64_t start = gen.reserve(2 * static_cast<uint64_t>(t.numel()));
    backend::get(device).normal(t, gen.seed(), gen.stream(), start / 2, mean, std);
    return t;
}

// ---------------------------------------------------------------- metadata

const Shape& Tensor::shape() const { return checked(impl_.get()).shape; }
const std::vector<int64_t>& Tensor::strides() const { return checked(impl_.get()).strides; }
int64_t Tensor::offset() const { return checked(impl_.get()).offset; }
int64_t Tensor::dim() const { return static_cast<int64_t>(shape().size()); }
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }
Device Tensor::device() const { return checked(impl_.get()).device(); }

bool Tensor::is_contiguous() const {
    const auto& s = shape();
    const auto& st = strides();
    if (shape_numel(s) == 0) return true;  // no elements: any strides will do (make_tensor's included)
    int64_t expect = 1;
    for (size_t i = s.size(); i-- > 0;) {
        if (s[i] == 1) continue;
        if (st[i] != expect) return false;
        expect *= s[i];
    }
    return true;
}

bool Tensor::shares_storage(const Tensor& other) const {
    return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

float* Tensor::data() {
    RFLOW_CHECK(device() == Device::cpu || backend::in_emulated_kernel(),
                "data() needs a CPU tensor; call .to(Device::cpu) first");
    return impl_->data();
}

const float* Tensor::data() const {
    RFLOW_CHECK(device() == Device::cpu || backend::in_emulated_kernel(),
                "data() needs a CPU tensor; call .to(Device::cpu) first");
    return impl_->data();
}

std::vector<float> Tensor::to_vector() const {
    Tensor c = contiguous();
    std::vector<float> v(static_cast<size_t>(c.numel()));
    copy_to_host(c.device(), c.impl()->data(), v.data(), c.numel());
    return v;
}

float Tensor::item() const {
    RFLOW_CHECK(numel() == 1, "item() needs a one-element tensor, got shape " << shape_str(shape()));
    return to_vector()[0];
}

Tensor Tensor::to(Device target) const {
    if (device() == target) return *this;
    Tensor c = contiguous();
    Tensor out = make_tensor(shape(), target);
    std::vector<float> host = c.to_vector();
    copy_from_host(target, host.data(), out.impl()->data(), out.numel());
    return record(out, "to", {*this}, [src = device()](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{g.to(src)};
    });
}

void move_storage(Tensor& t, Device target) {
    if (t.device() == target) return;
    const Tensor moved = t.detach().to(target);  // contiguous copy on the target device
    TensorImpl* impl = t.impl();
    impl->storage = moved.impl()->storage;
    impl->strides = moved.strides();
    impl->offset = moved.offset();
    impl->grad = Tensor();
}

// ---------------------------------------------------------------- views

Tensor Tensor::reshape(const Shape& shape_in) const {
    Shape shape = shape_in;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            RFLOW_CHECK(infer < 0, "reshape: only one -1 allowed in " << shape_str(shape_in));
            infer = static_cast<int64_t>(i);
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        RFLOW_CHECK(known > 0 && numel() % known == 0,
                    "reshape: cannot infer -1 in " << shape_str(shape_in) << " from " << shape_str(this->shape()));
        shape[infer] = numel() / known;
    }
    RFLOW_CHECK(shape_numel(shape) == numel(),
                "reshape: " << shape_str(this->shape()) << " has " << numel() << " elements, "
                            << shape_str(shape_in) << " needs " << shape_numel(shape));
    Tensor base = is_contiguous() ? *this : contiguous();
    Tensor out = make_view(base, shape, contiguous_strides(shape), base.offset());
    Shape from = this->shape();
    return record(out, "reshape", {base}, [from](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{g.reshape(from)};
    });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
    d = wrap_dim(d, dim(), "slice");
    const int64_t n = size(d);
    RFLOW_CHECK(step > 0, "slice: step must be positive, got " << step);
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, start, n);
    Shape s = shape();
    std::vector<int64_t> st = strides();
    s[d] = (end - start + step - 1) / step;
    const int64_t off = offset() + start * st[d];
    st[d] *= step;
    Tensor out = make_view(*this, s, st, off);
    Shape full_shape = shape();
    return record(out, "slice", {*this},
                  [full_shape, d, start, end, step](const Tensor& g, const std::vector<bool>&) {
                      // adjoint of a slice: scatter g into zeros of the full shape
                      std::vector<int64_t> idx;
                      for (int64_t i = start; i < end; i += step) idx.push_back(i);
                      return std::vector<Tensor>{index_add(full_shape, d, idx, g)};
                  });
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
    const int64_t r = dim();
    RFLOW_CHECK(static_cast<int64_t>(dims.size()) == r,
                "permute: " << dims.size() << " dims given for a rank-" << r << " tensor");
    Shape s(r);
    std::vector<int64_t> st(r), inverse(r, -1);
    for (int64_t i = 0; i < r; ++i) {
        int64_t d = wrap_dim(dims[i], r, "permute");
        RFLOW_CHECK(inverse[d] < 0, "permute: dimension " << d << " repeated");
        inverse[d] = i;
        s[i] = shape()[d];
        st[i] = strides()[d];
    }
    Tensor out = make_view(*this, s, st, offset());
    return record(out, "permute", {*this}, [inverse](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{g.permute(inverse)};
    });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
    std::vector<int64_t> p(dim());
    for (int64_t i = 0; i < dim(); ++i) p[i] = i;
    std::swap(p[wrap_dim(d0, dim(), "transpose")], p[wrap_dim(d1, dim(), "transpose")]);
    return permute(p);
}

Tensor Tensor::expand(const Shape& target) const {
    const int64_t r = static_cast<int64_t>(target.size()), own = dim();
    RFLOW_CHECK(r >= own, "expand: cannot expand " << shape_str(shape()) << " to " << shape_str(target));
    std::vector<int64_t> st(r, 0);
    for (int64_t i = 0; i < r; ++i) {
        int64_t j = i - (r - own);
        if (j < 0) continue;
        if (shape()[j] == target[i]) st[i] = strides()[j];
        else RFLOW_CHECK(shape()[j] == 1, "expand: cannot expand " << shape_str(shape()) << " to "
                                                                   << shape_str(target));
    }
    if (target == shape()) return *this;
    Tensor out = make_view(*this, target, st, offset());
    Shape from = shape();
    return record(out, "expand", {*this}, [from](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{sum_to(g, from)};
    });
}

Tensor Tensor::unsqueeze(int64_t d) const {
    d = d < 0 ? d + dim() + 1 : d;
    RFLOW_CHECK(d >= 0 && d <= dim(), "unsqueeze: dimension out of range for rank " << dim());
    Shape s = shape();
    s.insert(s.begin() + d, 1);
    return reshape(s);
}

Tensor Tensor::squeeze(int64_t d) const {
    d = wrap_dim(d, dim(), "squeeze");
    RFLOW_CHECK(size(d) == 1, "squeeze: dimension " << d << " has size " << size(d));
    Shape s = shape();
    s.erase(s.begin() + d);
    return reshape(s);
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

Tensor Tensor::clone() const {
    Tensor out = make_tensor(shape(), device());
    backend::get(device()).copy(*this, out);
    return record(out, "clone", {*this}, [](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{g};
    });
}

// ---------------------------------------------------------------- autograd state

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
    RFLOW_CHECK(is_leaf(), "requires_grad_ applies to leaves; use detach() first");
    impl_->requires_grad = on;
    return *this;
}

Tensor Tensor::grad() const { return checked(impl_.get()).grad; }
void Tensor::set_grad(const Tensor& g) {
    checked(impl_.get());
    impl_->grad = g;
}

void Tensor::zero_grad() {
    checked(impl_.get());
    impl_->grad = Tensor();
}
bool Tensor::is_leaf() const { return checked(impl_.get()).grad_fn == nullptr; }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_.get()).grad_fn; }

void Tensor::copy_(const Tensor& src) {
    RFLOW_CHECK(src.device() == device(), "copy_: source on " << device_name(src.device())
                                                              << ", destination on " << device_name(device()));
    Tensor s = src.shape() == shape() ? src : src.expand(shape());
    backend::get(device()).copy(s, *this);
}

void Tensor::fill_(float value) { backend::get(device()).fill(*this, value); }

// ---------------------------------------------------------------- printing

std::string Tensor::to_string(int max_per_dim) const {
    if (!defined()) return "Tensor(undefined)";
    std::ostringstream os;
    os << "Tensor(shape=" << shape_str(shape()) << ", device=" << device_name(device());
    if (requires_grad()) os << ", requires_grad";
    if (grad_fn()) os << ", grad_fn=" << grad_fn()->name;
    os << ")\n";
    std::vector<float> v = to_vector();
    const Shape& s = shape();
    if (s.empty()) {
        os << v[0];
        return os.str();
    }
    const int64_t cols = s.back(), rows = cols ? static_cast<int64_t>(v.size()) / cols : 0;
    os << std::setprecision(5);
    for (int64_t r = 0; r < rows; ++r) {
        if (r == max_per_dim && rows > 2 * max_per_dim) {
            os << "  ...\n";
            r = rows - max_per_dim;
        }
        os << "  [";
        for (int64_t c = 0; c < cols; ++c) {
            if (c == max_per_dim && cols > 2 * max_per_dim) {
                os << " ...";
                c = cols - max_per_dim;
            }
            os << (c ? ", " : "") << v[r * cols + c];
        }
        os << "]\n";
    }
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

// ---------------------------------------------------------------- device helpers

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

}  // namespace rflow
