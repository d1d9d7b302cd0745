//! `impl ImageService`: dispatch only.

use super::CriService;
use super::list_streaming::Batches;
use cradle_proto::cri;
use cradle_proto::cri::image_service_server::ImageService;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl ImageService for CriService {
    type StreamImagesStream = Batches<cri::StreamImagesResponse>;

    async fn list_images(
        &self,
        request: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        self.list_images_impl(request.into_inner())
            .map(Response::new)
    }

    async fn image_status(
        &self,
        request: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        self.image_status_impl(request.into_inner())
            .map(Response::new)
    }

    async fn pull_image(
        &self,
        request: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        self.pull_image_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn remove_image(
        &self,
        request: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        self.remove_image_impl(request.into_inner()).await?;
        Ok(Response::new(cri::RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        request: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        let _ = request;
        self.image_fs_info_impl().await.map(Response::new)
    }

    async fn stream_images(
        &self,
        request: Request<cri::StreamImagesRequest>,
    ) -> Result<Response<Self::StreamImagesStream>, Status> {
        self.stream_images_impl(request.into_inner())
            .map(Response::new)
    }
}
