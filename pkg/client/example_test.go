package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/pkg/client"
)

// waitFor polls a message until it has a final status.
func waitFor(c *client.Client, id string) *client.Message {
	for range 500 {
		m, err := c.GetMessage(context.Background(), id)
		if err == nil && (m.Status == client.StatusSent || m.Status == client.StatusFailed) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func ExampleClient_Send() {
	c, err := client.New(server.URL, apptest.KeyAcme)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := c.Send(ctx, client.Callback, client.SendRequest{
		Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{"id": "EX-1"}, Body: map[string]any{"order": "EX-1"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Success, res.Channel, res.Status)
	fmt.Println(waitFor(c, res.MessageID).Status)
	// Output:
	// true callback pending
	// sent
}

func ExampleClient_Send_invalid() {
	c, _ := client.New(server.URL, apptest.KeyAcme)
	_, err := c.Send(context.Background(), client.Callback, client.SendRequest{
		Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{}},
	})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.Field)
	}
	fmt.Println(errors.Is(err, client.ErrInvalidArgument))
	// Output:
	// 400 invalid_argument input.params.id
	// true
}

func ExampleClient_Messages() {
	c, _ := client.New(server.URL, apptest.KeyAcme)
	ctx := context.Background()
	for _, id := range []string{"IT-1", "IT-2", "IT-3"} {
		res, err := c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "dev", Notification: "orders:confirmation",
			Input: client.CallbackInput{Params: map[string]any{"id": id}}})
		if err != nil {
			panic(err)
		}
		waitFor(c, res.MessageID)
	}
	// Every sent callback in dev, two at a time under the hood, newest first.
	n := 0
	for m, err := range c.Messages(ctx, client.MessageFilter{Env: "dev", Status: client.StatusSent, Type: client.Callback}, 2) {
		if err != nil {
			panic(err)
		}
		n++
		_ = m.ID
	}
	fmt.Println(n)
	// Output: 3
}

func ExampleClient_GetMessage_notFound() {
	c, _ := client.New(server.URL, apptest.KeyGlobex)
	res, _ := mustClient(apptest.KeyAcme).Send(context.Background(), client.Callback, client.SendRequest{
		Product: "shop", Env: "prd", Notification: "orders:confirmation", Input: client.CallbackInput{Params: map[string]any{"id": "ISO"}}})
	// Another workspace's message does not exist for this key.
	_, err := c.GetMessage(context.Background(), res.MessageID)
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output: true
}

func mustClient(key string) *client.Client {
	c, err := client.New(server.URL, key)
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleClient_Dispatch() {
	c := mustClient(apptest.KeyAcme)
	ctx := context.Background()
	start := time.Now().Add(time.Hour)
	job, err := c.Dispatch(ctx, client.DispatchRequest{
		Product: "shop", Env: "prd", Event: "orders",
		Input:    client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "digest"}}},
		Schedule: client.Schedule{StartAt: &start, Cron: "30 2 * * *", TZ: "Europe/Berlin", Limit: 10},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(job.Status)
	paused, _ := c.PauseJob(ctx, job.JobID)
	fmt.Println(paused.Status)
	resumed, _ := c.ResumeJob(ctx, job.JobID)
	fmt.Println(resumed.Status != client.JobPaused)
	cancelled, _ := c.CancelJob(ctx, job.JobID)
	fmt.Println(cancelled.Status)
	// Output:
	// queued
	// paused
	// true
	// cancelled
}
