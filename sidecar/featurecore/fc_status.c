#include "../../feature_core/src/fc_status.c"
