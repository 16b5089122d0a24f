#include "../../feature_core/src/fc_schema.c"
