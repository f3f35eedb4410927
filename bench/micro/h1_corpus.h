#pragma once
// Request heads shared by the HTTP/1 parser benchmark and the strictness comparison.

#include <string>

namespace pilotfish::bench {

/// Small API GET: request line + 5 header fields (~200 B).
inline const std::string kSmallGet =
    "GET /api/v1/users/42?fields=name,email HTTP/1.1\r\n"
    "Host: users.internal:8080\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: application/json\r\n"
    "X-Request-Id: 8d3f5a4e-1b2c-4d5e-8f90-123456789abc\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

/// What a desktop browser sends for a subresource: 15 header fields (~700 B).
inline const std::string kBrowser =
    "GET /static/app/main.3f9a1c.js?v=20261125 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Referer: https://www.example.com/products/shoes?color=red&size=42\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=8f2b1c3d4e5f60718293a4b5c6d7e8f9; _ga=GA1.2.123456789.1700000000\r\n"
    "If-None-Match: \"5e1f-1a2b3c4d\"\r\n"
    "\r\n";

/// A service POST with a chunked JSON body: 7 header fields, 3 chunks (100 + 150 + 50 B).
inline std::string makeChunkedPost() {
  std::string s =
      "POST /api/v1/orders HTTP/1.1\r\n"
      "Host: orders.internal:8080\r\n"
      "User-Agent: Go-http-client/1.1\r\n"
      "Content-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n"
      "X-Request-Id: 0b7e2a1c-9d8f-4e6a-b5c4-3d2e1f0a9b8c\r\n"
      "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
      "Accept-Encoding: gzip\r\n"
      "\r\n";
  s += "64\r\n" + std::string(100, 'a') + "\r\n";
  s += "96\r\n" + std::string(150, 'b') + "\r\n";
  s += "32\r\n" + std::string(50, 'c') + "\r\n";
  s += "0\r\n\r\n";
  return s;
}

inline const std::string kChunkedPost = makeChunkedPost();

}  // namespace pilotfish::bench
