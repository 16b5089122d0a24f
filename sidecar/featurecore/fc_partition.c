#include "../../feature_core/src/fc_partition.c"
