drwxr-xr-x   2  1000  1000            0 1690000001.222222222 /docs
drwxr-xr-x   2  1000  1000            0 1690000001.222222222 /names
drwxrwxrwt   2  1000  1000            0 1690000001.222222222 /special
-rw-r--r--   1  1000  1000       400000 1690000001.222222222 /docs/big.txt
-rw-r--r--   1  1000  1000            0 1690000001.222222222 /docs/empty
-rw-r--r--   2  1000  1000          120 1690000001.222222222 /docs/hardlink
lrwxrwxrwx   1  1000  1000           10 1690000001.222222222 /docs/link -> readme.txt
-rw-r--r--   2  1000  1000          120 1690000001.222222222 /docs/readme.txt
-rw-r--r--   1  1000  1000       300000 1690000001.222222222 /docs/sparse.bin
-rw-r--r--   1  1000  1000            3 1690000001.222222222 /names/l\xe9\xff
-rw-r--r--   1  1000  1000            4 1690000001.222222222 /names/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn
-rwsr-xr-x   1  1000  1000            2 1690000001.222222222 /names/setuid
brw-rw----   1     0     6            0 1690000001.222222222 /special/disk
prw-------   1  1000  1000            0 1690000001.222222222 /special/fifo
crw-rw-rw-   1     0     0            0 1690000001.222222222 /special/null
