// Stand-in for <objc/runtime.h> (see ../README.md): the types and lookups metal-cpp uses.
#pragma once
typedef struct objc_class* Class;
typedef struct objc_object* id;
struct objc_object {
  Class isa; // metal-cpp's NS::Object derives from it
};
typedef struct objc_selector* SEL;
typedef struct objc_object Protocol;
typedef void (*IMP)(void);
typedef signed char BOOL;
extern "C" {
id objc_lookUpClass(const char* name);
Protocol* objc_getProtocol(const char* name);
SEL sel_registerName(const char* str);
}
