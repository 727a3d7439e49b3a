# Sourced by the bench scripts. snapshot DIR EXE copies EXE and the librflow it links into DIR
# (DIR/lib), so that a rebuild of the build tree while a benchmark runs cannot swap the library
# underneath it; run the copy with LD_LIBRARY_PATH=DIR/lib.
snapshot() {
    mkdir -p "$1/lib"
    cp "$2" "$1/"
    local name arrow path rest
    if read -r name arrow path rest < <(ldd "$2" | grep librflow); then cp -L "$path" "$1/lib/$name"; fi
}
