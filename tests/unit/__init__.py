"""Tests of pure logic and of the SDK objects the app would send, built and validated offline."""
