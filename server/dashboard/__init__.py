"""The browser dashboard's files (HTML, JS, CSS, vendored uPlot), served by :mod:`server.static`."""
