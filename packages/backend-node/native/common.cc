// The oneDNN engine and stream, and the readers of JS arguments (see common.h).
#include "common.h"

namespace resnet_native {

engine& Eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& Strm() {
  static stream s(Eng());
  return s;
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array) {
      Napi::Int32Array a = v.As<Napi::Int32Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
  }
  Napi::Array a = v.As<Napi::Array>();
  out.resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

float* F32(const Napi::Value& v, size_t* len) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), "expected a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (len) *len = a.ElementLength();
  return a.Data();
}

bool WinogradEnabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("RESNET_TS_WINOGRAD");
    return !(env && std::string(env) == "0");
  }();
  return enabled;
}

std::string Key(const char* op, const std::vector<int64_t>& p, int extra) {
  std::string k(op);
  for (int64_t x : p) {
    k += ',';
    k += std::to_string(x);
  }
  k += '|';
  k += std::to_string(extra);
  return k;
}

}  // namespace resnet_native
