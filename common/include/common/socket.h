// Closing the TCP connections of both programs' HTTP servers: a Socket is a
// Boost.Asio stream socket, a Stream a boost::beast::basic_stream over one.
// Header-only: each program already builds with Boost.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <utility>

namespace pricing {

// Closes `socket` at once in both directions; errors (the peer went first)
// do not matter.
template <typename Socket>
void CloseNow(Socket& socket) {
  boost::system::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
  socket.close(ignored);
}

// Reads into `buffer` and discards it until the stream fails (the peer closed,
// or the stream's expiry passed), then calls `close`, which must hold what
// keeps `stream` and `buffer` alive.
template <typename Stream, typename Close>
void DiscardUntilClosed(Stream& stream, boost::asio::mutable_buffer buffer,
                        Close close) {
  stream.async_read_some(buffer, [&stream, buffer, close = std::move(close)](
                                     boost::system::error_code ec, std::size_t) mutable {
    if (ec) return close();
    DiscardUntilClosed(stream, buffer, std::move(close));
  });
}

// Ends a connection whose peer may still be sending (a body the server will
// not read). Closing a socket with unread input makes the kernel send a
// reset, which can destroy the answer before the peer reads it. So: stop
// sending (FIN), then discard what still arrives until the peer closes or
// `linger` passes, then call `close` (as for DiscardUntilClosed).
template <typename Stream, typename Close>
void LingeringClose(Stream& stream, std::chrono::steady_clock::duration linger,
                    boost::asio::mutable_buffer buffer, Close close) {
  boost::system::error_code ec;
  stream.socket().shutdown(Stream::socket_type::shutdown_send, ec);
  if (ec) return close();
  stream.expires_after(linger);
  DiscardUntilClosed(stream, buffer, std::move(close));
}

}  // namespace pricing
