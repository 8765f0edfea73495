"""The browser dashboard's files (HTML, JS, CSS, vendored uPlot), served by :mod:`teleop_server.net.static`."""
