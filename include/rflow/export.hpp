// Symbol visibility for librflow: everything is hidden unless marked RFLOW_API.
#pragma once

#if defined(_WIN32)
#  if defined(RFLOW_BUILDING_LIBRARY)
#    define RFLOW_API __declspec(dllexport)
#  else
#    define RFLOW_API __declspec(dllimport)
#  endif
#else
#  define RFLOW_API __attribute__((visibility("default")))
#endif
