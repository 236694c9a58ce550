// MHD_get_connection_info is variadic, so Swift cannot call it; this asks it one thing.
#include "CMicroHTTPD.h"

size_t adapter_serve_request_header_size(struct MHD_Connection *connection) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  return info == NULL ? 0 : info->header_size;
}
