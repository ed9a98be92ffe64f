// Large kernel outputs on transparent huge pages. A ResNet-20 training step at batch 128 streams ~2 GB
// through 2-8 MiB activations; on 4 KiB pages every such array spans 512-2048 TLB entries, more than
// the core's second-level TLB holds, so the convs and batch norms keep missing it. Linux gives a
// process 2 MiB pages only where it asks (/sys/kernel/mm/transparent_hugepage/enabled is `madvise` on
// Debian and most distributions): the buffer pool (src/native/pool.ts) takes its large arrays from
// here: a 2 MiB-aligned stretch of an ordinary (V8) buffer, advised MADV_HUGEPAGE.
#include "common.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace resnet_native {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// adviseHugePages(arrayBuffer, bytes): the offset of the first 2 MiB boundary in the buffer (0 if it has
// none), after advising the kernel that the whole 2 MiB pages of the `bytes` from there are to be huge
// pages (MADV_HUGEPAGE: only advice; without transparent huge pages nothing changes). Only whole pages
// inside those bytes: a huge page is backed all at once, and one reaching past the array would hold
// memory nobody uses. The caller over-allocates by 2 MiB and uses `bytes` from that offset. The buffer
// stays V8's own: the garbage collector frees it at once, as any other (an external ArrayBuffer's memory
// is only returned when the event loop next turns, and a synchronous loop piled up gigabytes).
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const uintptr_t bytes = static_cast<uintptr_t>(info[1].As<Napi::Number>().Int64Value());
  const uintptr_t start = reinterpret_cast<uintptr_t>(buffer.Data());
  const uintptr_t end = start + buffer.ByteLength();
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned >= end) return Napi::Number::New(info.Env(), 0);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t whole = std::min(bytes, end - aligned) & ~(kHugePage - 1);
  if (whole > 0) madvise(reinterpret_cast<void*>(aligned), whole, MADV_HUGEPAGE);
#endif
  return Napi::Number::New(info.Env(), static_cast<double>(aligned - start));
}

}  // namespace resnet_native
