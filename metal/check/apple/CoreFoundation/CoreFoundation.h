// Stand-in for <CoreFoundation/CoreFoundation.h> (see ../README.md).
#pragma once
#include <cstdint>
typedef double CFTimeInterval;
typedef const void* CFTypeRef;
typedef long CFIndex;
typedef const struct __CFAllocator* CFAllocatorRef;
typedef const struct __CFArray* CFArrayRef;
struct CFArrayCallBacks {
  CFIndex version;
};
extern "C" {
extern const CFAllocatorRef kCFAllocatorDefault;
extern const CFArrayCallBacks kCFTypeArrayCallBacks;
CFArrayRef CFArrayCreate(CFAllocatorRef, const void**, CFIndex, const CFArrayCallBacks*);
}
