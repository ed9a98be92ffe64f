// resnet_native: oneDNN-backed kernels for the `native` tfjs backend of @resnet-ts/backend-node.
//
// Every function is synchronous and works on Float32Arrays owned by JS (the tfjs cpu backend's
// tensor storage): inputs are read in place and results are written into an output array that the
// caller allocated. Layouts are tfjs's: activations NHWC, conv filters HWIO [kh, kw, in, out].
// Primitives are created once per shape and cached; only the (small) filters are reordered to the
// layout the primitive prefers.
//
// The kernels live by kind in common.cc, conv.cc, matmul.cc, pool.cc, elementwise.cc and
// batchnorm.cc (declared in common.h); this file holds the module: version, cache reset, the
// exception guard and the exports.
#include <v8.h>

#include "common.h"
#include "plan.h"

namespace resnet_native {
namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << v->major << '.' << v->minor << '.' << v->patch;
  return Napi::String::New(info.Env(), os.str());
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  ClearConvCaches();
  ClearMatMulCache();
  ClearPoolCache();
  return info.Env().Undefined();
}

// A full garbage collection now. The JS side calls it after letting go of large buffers that only
// a collection frees (weight sources the compiled plan has copied), so that they are returned before
// the forward allocates its activations rather than whenever V8 next collects.
Napi::Value CollectGarbage(const Napi::CallbackInfo& info) {
  // One ordinary full collection: V8's memory-pressure and low-memory notifications also compact
  // the whole heap, two to seven times, which costs 30-45 ms here instead of a few.
  static const bool flagSet = [] {
    v8::V8::SetFlagsFromString("--expose-gc");
    return true;
  }();
  (void)flagSet;
  v8::Isolate::GetCurrent()->RequestGarbageCollectionForTesting(v8::Isolate::kFullGarbageCollection);
  return info.Env().Undefined();
}

// Wraps a function so that oneDNN and std exceptions become JS errors.
// One lock for every call: the primitive caches, the stream and the OpenMP team are shared by all
// Node threads (worker_threads) that load the addon. Uncontended on the main thread.
std::mutex callMutex;

template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(callMutex);
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("resnet_native: ") + e.what());
  }
}

}  // namespace
}  // namespace resnet_native

using namespace resnet_native;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("collectGarbage", Napi::Function::New(env, CollectGarbage));
  exports.Set("conv2dForward", Napi::Function::New(env, Guard<Conv2dForward>));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Guard<Conv2dBackwardData>));
  exports.Set("conv2dBackwardFilter", Napi::Function::New(env, Guard<Conv2dBackwardFilter>));
  exports.Set("matmul", Napi::Function::New(env, Guard<MatMul>));
  exports.Set("poolForward", Napi::Function::New(env, Guard<PoolForward>));
  exports.Set("poolBackward", Napi::Function::New(env, Guard<PoolBackward>));
  exports.Set("binary", Napi::Function::New(env, Guard<BinaryOp>));
  exports.Set("sgdStep", Napi::Function::New(env, Guard<SgdStep>));
  exports.Set("maxPoolPropagateNaN", Napi::Function::New(env, Guard<MaxPoolPropagateNaN>));
  exports.Set("unary", Napi::Function::New(env, Guard<UnaryOp>));
  exports.Set("reduce", Napi::Function::New(env, Guard<ReduceOp>));
  exports.Set("batchNormInference", Napi::Function::New(env, Guard<BatchNormInference>));
  exports.Set("tile", Napi::Function::New(env, Guard<TileOp>));
  exports.Set("transpose", Napi::Function::New(env, Guard<TransposeOp>));
  exports.Set("batchNormGrad", Napi::Function::New(env, Guard<BatchNormGrad>));
  exports.Set("batchNormTrain", Napi::Function::New(env, Guard<BatchNormTrain>));
  exports.Set("batchNormTrainGrad", Napi::Function::New(env, Guard<BatchNormTrainGrad>));
  exports.Set("convImpl", Napi::Function::New(env, Guard<ConvImpl>));
  exports.Set("planCreate", Napi::Function::New(env, Guard<PlanCreate>));
  exports.Set("planRun", Napi::Function::New(env, Guard<PlanRun>));
  exports.Set("planInfo", Napi::Function::New(env, Guard<PlanInfo>));
  exports.Set("planDispose", Napi::Function::New(env, Guard<PlanDispose>));
  exports.Set("pinWorkerThreads", Napi::Function::New(env, Guard<PinWorkerThreads>));
  exports.Set("adviseHugePages", Napi::Function::New(env, Guard<AdviseHugePages>));
  exports.Set("version", Napi::Function::New(env, Guard<Version>));
  exports.Set("clearCache", Napi::Function::New(env, Guard<ClearCache>));
  return exports;
}

NODE_API_MODULE(resnet_native, Init)
