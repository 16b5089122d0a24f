#include "../../feature_core/src/fc_resample.c"
