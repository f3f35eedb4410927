// Boost.Asio is built once here (BOOST_ASIO_SEPARATE_COMPILATION) instead of in every
// translation unit that includes it: a large part of the project's compile time otherwise.
#include <boost/asio/impl/src.hpp>
