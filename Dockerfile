# xray on the CPU, from the same tensorflow-cpu wheel the development set-up uses.
#   docker build -t xray-cpu .
#   docker run -v /path/to/chest_xray:/data -v $PWD/runs:/runs xray-cpu train
#   docker run -p 8501:8501 -v $PWD/models:/models xray-cpu serve   # models/xray/1, 2, ...
# See Dockerfile.gpu for the GPU image; both build with scripts/link-tensorflow.sh and the
# one build setting TENSORFLOW_DIR.
ARG GO_VERSION=1.26.8

FROM python:3.11-slim-bookworm AS build
ARG GO_VERSION
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential make pkg-config binutils curl ca-certificates libhdf5-dev \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH
# Only the C library is needed from the wheel: install it without its Python dependencies.
RUN pip install --no-cache-dir --no-deps tensorflow-cpu==2.18.1 \
    && mkdir -p /opt/tensorflow \
    && cp -a "$(python -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["purelib"], "tensorflow"))')"/. /opt/tensorflow/
WORKDIR /src
COPY go.mod go.sum ./
COPY third_party/tfshim/go.mod third_party/tfshim/go.sum third_party/tfshim/
RUN go mod download
COPY . .
RUN scripts/link-tensorflow.sh /opt/tensorflow /opt/tf \
    && make build TENSORFLOW_DIR=/opt/tf \
    && install -m 0755 bin/xray.bin /usr/local/bin/xray

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhdf5-103-1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/*
# The two shared libraries and the link directory the binary's rpath names.
COPY --from=build /opt/tensorflow/libtensorflow_cc.so.2 /opt/tensorflow/libtensorflow_framework.so.2 /opt/tensorflow/
COPY --from=build /opt/tf/lib /opt/tf/lib
RUN useradd --create-home --uid 10001 xray && mkdir -p /runs /data /models && chown xray /runs
COPY --from=build /usr/local/bin/xray /usr/local/bin/xray
USER xray
WORKDIR /home/xray
ENV XRAY_DATA=/data \
    XRAY_OUT=/runs/mobilenet \
    XRAY_ARCH=mobilenet \
    KERAS_HOME=/runs/.keras \
    TF_CPP_MIN_LOG_LEVEL=2 \
    XRAY_MODEL_DIR=/models/xray \
    XRAY_ADDR=:8501
# xray serve: TensorFlow Serving's layout and port (docker run -p 8501:8501 -v $PWD/models:/models IMAGE serve).
EXPOSE 8501
VOLUME ["/data", "/runs", "/models"]
ENTRYPOINT ["xray"]
CMD ["--help"]
