#!/bin/sh
# The swagger-ui stand-in's entry point: Swagger UI configured from URLS or URL (configure.py),
# then nginx in the foreground on $PORT, serving it. SIGQUIT (the image's stop signal) makes
# nginx finish the requests it is serving, then exit.
set -eu
python3 /usr/local/lib/swagger-ui/configure.py /usr/local/lib/swagger-ui/swagger-initializer.js.orig \
  /usr/share/nginx/html/swagger-initializer.js
cat >/etc/nginx/conf.d/swagger-ui.conf <<CONF
server {
  listen ${PORT:-8080};
  listen [::]:${PORT:-8080};
  root /usr/share/nginx/html;
  index index.html;
  location / {
    try_files \$uri \$uri/ =404;
    expires -1;
  }
}
CONF
exec nginx -g 'daemon off;'
