// zlib (Debian zlib1g-dev), for .tar.gz adapter uploads.
#include <zlib.h>
