// The compiled inference plan (plan.cc) and its entry points (plan_api.cc).
#pragma once

#include "common.h"

namespace resnet_native {

// A network built once as oneDNN primitives; see plan.cc.
class Plan {
 public:
  ~Plan();
  // Builds the steps for `ops` (see plan.cc); `output` is the value holding the logits.
  void Build(const Napi::Array& ops, int output);
  // One forward pass: x is NHWC [N, H, W, C], out receives [N, classes].
  void Run(float* x, float* out);
  // Bytes of activation buffers.
  size_t Bytes() const;

  memory input;   // the caller's NHWC input (handle set per run); value 0
  memory result;  // the caller's output array (handle set per run)
  std::vector<std::string> impls;  // oneDNN implementation of each primitive
  int reorders = 0;                // activation reorders (layout changes and copies) per run
  bool winograd = true;            // 3x3 convs may run as Winograd convs (see plan.cc, common.h)
  bool deferWinograd = false;      // build them direct for now, counting them in winogradDeferred
  int winogradDeferred = 0;        // convs that would run as Winograd without deferWinograd

  struct Value {
    memory::desc md;
    int buf = -1;
  };
  std::vector<Value> values;

 private:
  struct Buffer {
    float* data;
    size_t bytes;
    bool free;
  };
  struct Step {
    primitive prim;
    bool hasPrim = false;
    std::unordered_map<int, memory> args;
    float* reluPtr = nullptr;  // ReluInPlace over reluN floats after the primitive
    int64_t reluN = 0;
    memory::desc scratchpad;  // the primitive's scratchpad (user mode), empty if none
    std::function<void()> post;  // runs after the primitive (max pooling's NaN rule), if set
  };
  std::vector<Buffer> buffers;
  std::vector<Step> steps;
  std::vector<int> lastUse;  // per value: the last op reading it
  std::vector<int> temps;    // buffers of the op being built, freed after it
  size_t scratchpadBytes = 0;  // the largest step scratchpad
  int scratchpad = -1;         // the buffer all steps' scratchpads share

  int Alloc(size_t bytes);      // a free buffer of at least `bytes`, else a new one
  int NewBuffer(size_t bytes);  // a new buffer
  memory Mem(int v);
  void Define(int v, const memory::desc& md, int buf = -1);
  void AddStep(primitive p, std::unordered_map<int, memory> args, const std::string& impl,
               const memory::desc& scratchpad = memory::desc());
  void AddRelu(int v);
  memory As(int v, const memory::desc& want);
  bool Dies(int v, int op) const;
  void Release(int op, const std::vector<int>& inputs, int out);
  void Conv(const Napi::Object& op, int index, int x, int out);
  void Pool(const Napi::Object& op, int x, int out, bool isMax);
  void GlobalAvg(int x, int out);
  void Gemm(const Napi::Object& op, int x, int out);
  void Elementwise(const Napi::Object& op, int index, const std::vector<int>& in, int out, bool isAdd);
  void BatchNorm(const Napi::Object& op, int index, int x, int out);
};

Napi::Value PlanCreate(const Napi::CallbackInfo& info);
Napi::Value PlanRun(const Napi::CallbackInfo& info);
Napi::Value PlanInfo(const Napi::CallbackInfo& info);
Napi::Value PlanDispose(const Napi::CallbackInfo& info);

}  // namespace resnet_native
