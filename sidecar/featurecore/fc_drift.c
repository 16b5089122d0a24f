#include "../../feature_core/src/fc_drift.c"
