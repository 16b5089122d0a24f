#include "../../feature_core/src/fc_place.c"
